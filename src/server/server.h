// `dseek serve`: an OpenAI-compatible HTTP server over one continuous-batching Engine.
// POST /v1/chat/completions, /v1/completions; GET /v1/models, /health, /metrics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/deepseek.h"
#include "runtime/engine.h"
#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"

namespace dseek::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;              // 0: any free port (bind() says which)
  std::string api_key;          // empty: no authentication
  std::string model_name;       // the id /v1/models lists and requests may name
  std::string chat_template;    // replaces the tokenizer's chat templates when not empty
  size_t max_body_bytes = 8u << 20;
  int http_threads = 64;        // connections served at once (each streaming client holds one)
  double shutdown_grace_seconds = 30;  // after SIGTERM, in-flight requests may finish for this long
  EngineOptions engine;
  std::vector<int32_t> eos_token_ids;  // end generation unless a request says ignore_eos
  SamplingParams sampling_defaults;    // the model's generation_config.json
};

class Server {
 public:
  // The model and tokenizer must outlive the server. Throws dseek::Error on bad options.
  Server(const DeepSeekModel& model, const Tokenizer& tokenizer, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; returns its port. Error when it cannot.
  int bind();
  // Serves until shutdown(): then refuses new requests (503), lets in-flight ones finish for the
  // grace period, cancels the rest, and returns once every response is written.
  void serve();
  // Thread-safe, returns at once; not async-signal-safe (see signals.h).
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dseek::server
