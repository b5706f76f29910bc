#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "tokenizer/tokenizer.h"
#include "tools/perplexity.h"
#include "util/error.h"

namespace dseek::cli {
namespace {

std::string read_text(const std::string& path, const char* option) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot read {}", option, path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Token ids separated by whitespace (commas allowed too).
std::vector<int32_t> read_token_ids(const std::string& path) {
  std::string text = read_text(path, "--tokens");
  for (char& ch : text)
    if (ch == ',') ch = ' ';
  std::istringstream in(text);
  std::vector<int32_t> ids;
  std::string item;
  while (in >> item) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || v < 0 || v > INT32_MAX) fail("--tokens {}: \"{}\" is not a token id", path, item);
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

}  // namespace

void add_perplexity_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("perplexity", "Perplexity on a text file, chunked like llama-perplexity");
  auto model_options = std::make_shared<ModelOptions>();
  auto file = std::make_shared<std::string>();
  auto tokenizer_dir = std::make_shared<std::string>();
  auto options = std::make_shared<PerplexityOptions>();
  add_model_options(cmd, *model_options);
  cmd->add_option("-f,--file", *file, "Text file")->required();
  cmd->add_option("-c,--ctx", options->ctx, "Chunk length in tokens; the second half of each is scored")->capture_default_str();
  cmd->add_option("--chunks", options->max_chunks, "At most this many chunks (default: all)");
  cmd->add_option("--tokenizer", *tokenizer_dir, "Tokenizer directory or GGUF file (default: the model's)");
  cmd->callback([=] {
    std::string dir = *tokenizer_dir;
    if (dir.empty()) {
      // A GGUF file carries its tokenizer; a model directory must hold tokenizer.json.
      if (model_options->path.empty() || (std::filesystem::is_directory(model_options->path) &&
                                          !std::filesystem::exists(model_options->path + "/tokenizer.json")))
        fail("--tokenizer: the model has no tokenizer.json; give --tokenizer DIR");
      dir = model_options->path;
    }
    Tokenizer tokenizer = Tokenizer::load(dir);
    std::vector<uint32_t> encoded = tokenizer.encode(read_text(*file, "--file"));
    std::vector<int32_t> tokens(encoded.begin(), encoded.end());
    PerplexityOptions o = *options;
    if (tokenizer.config().add_bos_token.value_or(false) && tokenizer.bos_id()) o.bos = static_cast<int32_t>(*tokenizer.bos_id());
    auto model = load_model(*model_options);
    std::fprintf(stderr, "%zu tokens, %lld-token chunks\n", tokens.size(), static_cast<long long>(o.ctx));
    PerplexityResult r = perplexity(*model, tokens, o, [](int64_t chunk, const PerplexityResult& so_far) {
      std::printf("[%lld]%.4f,", static_cast<long long>(chunk), so_far.ppl());
      std::fflush(stdout);
    });
    std::printf("\nFinal estimate: PPL = %.4f +/- %.5f (%lld chunks, %lld tokens scored)\n", r.ppl(),
                r.ppl() * r.nll_stderr, static_cast<long long>(r.chunks), static_cast<long long>(r.scored));
  });
}

void add_kl_divergence_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("kl-divergence", "KL divergence and top-1 agreement of a model (QUANT) against BASE");
  auto base = std::make_shared<ModelOptions>();
  auto quant = std::make_shared<ModelOptions>();
  auto tokens_file = std::make_shared<std::string>();
  auto options = std::make_shared<PerplexityOptions>();
  cmd->add_option("base", base->path, "Reference model (directory or .gguf)")->required();
  cmd->add_option("quant", quant->path, "Model to compare (directory or .gguf)")->required();
  cmd->add_option("--tokens", *tokens_file, "File of token ids separated by whitespace")->required();
  cmd->add_option("-c,--ctx", options->ctx, "Chunk length in tokens; the second half of each is scored")->capture_default_str();
  cmd->add_option("--chunks", options->max_chunks, "At most this many chunks (default: all)");
  cmd->add_option("-t,--threads", base->threads, "Threads (default: physical cores)");
  cmd->callback([=] {
    std::vector<int32_t> tokens = read_token_ids(*tokens_file);
    auto base_model = load_model(*base);
    auto quant_model = load_model(*quant);
    KlResult r = kl_divergence(*base_model, *quant_model, tokens, *options);
    std::printf("chunks: %lld, positions: %lld\n", static_cast<long long>(r.chunks), static_cast<long long>(r.positions));
    std::printf("mean KL(base||quant): %.6f +/- %.6f nats, max %.6f\n", r.mean_kl, r.kl_stderr, r.max_kl);
    std::printf("top-1 agreement: %.2f%%\n", 100 * r.top1);
    std::printf("PPL base: %.4f  quant: %.4f\n", r.base.ppl(), r.quant.ppl());
  });
}

}  // namespace dseek::cli
