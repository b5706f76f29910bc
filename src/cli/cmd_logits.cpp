#include <cstring>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "io/safetensors.h"

namespace dseek::cli {

void add_logits_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("logits", "One prefill; write the logits at every position (F32 [T, vocab])");
  auto options = std::make_shared<ModelOptions>();
  auto tokens = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  add_model_options(cmd, *options);
  cmd->add_option("--tokens", *tokens, "Comma-separated token ids")->required();
  cmd->add_option("--out", *out, "Output .safetensors file (tensor \"logits\")")->required();
  cmd->callback([=] {
    std::vector<int32_t> ids = parse_token_list(*tokens, "--tokens");
    auto model = load_model(*options);
    KvCache cache = model->make_cache(ids.size());
    int seq = cache.add_sequence();
    cache.reserve(seq, ids.size());
    Batch batch;
    for (size_t t = 0; t < ids.size(); ++t) batch.add(ids[t], t, seq, true);
    std::vector<float> logits = model->forward(batch, cache);
    TensorData tensor{"logits", DType::F32, {static_cast<int64_t>(ids.size()), model->config().vocab_size}, {}};
    tensor.bytes.resize(logits.size() * sizeof(float));
    std::memcpy(tensor.bytes.data(), logits.data(), tensor.bytes.size());
    write_safetensors(*out, {tensor});
  });
}

}  // namespace dseek::cli
