#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "runtime/generation_config.h"
#include "server/server.h"
#include "server/signals.h"
#include "util/error.h"

namespace dseek::cli {
namespace {

struct ServeOptions {
  std::string tokenizer;      // directory; default: the model's
  std::string chat_template;  // a .jinja file
  server::ServerOptions server;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("--chat-template: cannot open {}", path);
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

void serve(const ModelOptions& model_options, ServeOptions options) {
  std::string tokenizer_dir = options.tokenizer.empty() ? model_options.path : options.tokenizer;
  if (tokenizer_dir.empty()) fail("a model without files needs --tokenizer DIR (a directory with tokenizer.json, or a GGUF file)");
  // Installed first, so that a signal during the (long) load is not lost.
  server::TerminationSignals signals;
  Tokenizer tokenizer = Tokenizer::load(tokenizer_dir);
  auto model = load_model(model_options);
  GenerationConfig generation =
      model_options.path.empty() ? GenerationConfig{} : GenerationConfig::load(model_options.path);

  server::ServerOptions& o = options.server;
  if (o.model_name.empty()) {
    std::filesystem::path dir = std::filesystem::path(model_options.path).lexically_normal();
    if (!dir.has_filename()) dir = dir.parent_path();  // "models/v2/"
    o.model_name = model_options.path.empty() ? model_options.preset : dir.filename().string();
  }
  if (!options.chat_template.empty()) o.chat_template = read_text(options.chat_template);
  o.eos_token_ids = generation.stop_token_ids(model->config().eos_token_ids, tokenizer.eos_id());
  o.sampling_defaults = generation.sampling_defaults();

  server::Server server(*model, tokenizer, o);
  int port = server.bind();
  std::printf("listening on http://%s:%d (model %s)\n", o.host.c_str(), port, o.model_name.c_str());
  std::fflush(stdout);
  std::thread watcher([&] {
    if (!signals.wait()) return;  // serve() ended by itself
    std::fprintf(stderr, "shutting down: finishing in-flight requests (signal again to exit at once)\n");
    server.shutdown();
    if (signals.wait()) {
      std::fprintf(stderr, "exiting without finishing in-flight requests\n");
      std::_Exit(1);
    }
  });
  struct Interrupt {
    server::TerminationSignals& signals;
    std::thread& watcher;
    ~Interrupt() {
      signals.interrupt();
      watcher.join();
    }
  } interrupt{signals, watcher};
  server.serve();
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server with continuous batching");
  auto model = std::make_shared<ModelOptions>();
  auto options = std::make_shared<ServeOptions>();
  server::ServerOptions& s = options->server;
  model->activations = "auto";  // serving is batched: throughput first, like vLLM and llama-server
  model->cache_type = "bf16";    // twice the sequences in the same memory, as llama-server's f16 cache
  add_model_options(cmd, *model);
  cmd->add_option("--host", s.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", s.port, "Port (0: any free port)")->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("--parallel", s.engine.max_sequences, "Sequences decoded together; more requests wait")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--ctx", s.engine.context, "Context positions per sequence (prompt + output)")
      ->capture_default_str()->check(CLI::Range(int64_t{2}, int64_t{1} << 40));
  cmd->add_option("--kv-tokens", s.engine.kv_tokens, "KV cache budget in positions over all sequences (0: parallel * ctx)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--step-tokens", s.engine.step_tokens, "Most prompt tokens one step prefills")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--api-key", s.api_key, "Require \"Authorization: Bearer KEY\" on /v1/ routes")
      ->envname("DSEEK_API_KEY");
  cmd->add_option("--served-model-name", s.model_name, "Model id in the API (default: the model directory's name)");
  cmd->add_option("--tokenizer", options->tokenizer, "Tokenizer directory or GGUF file (default: the model's)");
  cmd->add_option("--chat-template", options->chat_template, "Jinja chat template file, instead of the tokenizer's");
  cmd->add_option("--max-body-bytes", s.max_body_bytes, "Largest request body accepted (413 beyond)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--http-threads", s.http_threads, "Connections served at once")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--shutdown-grace", s.shutdown_grace_seconds,
                  "Seconds in-flight requests may run after SIGTERM before they are cancelled")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->callback([model, options] { serve(*model, *options); });
}

}  // namespace dseek::cli
