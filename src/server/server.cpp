#include "server/server.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include <httplib.h>

#include "server/api_error.h"
#include "server/chat_prompt.h"
#include "server/metrics.h"
#include "server/request.h"
#include "server/response.h"

namespace dseek::server {
namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// How often a waiting response checks whether its client is still there.
constexpr auto kPollInterval = std::chrono::milliseconds(50);
// After the grace period, how long cancelled responses get to be written.
constexpr auto kCancelWait = std::chrono::seconds(10);

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// One request's events, from the engine thread to the HTTP thread that writes them.
class EventQueue {
 public:
  void push(const TokenEvent& event) {
    std::lock_guard lock(mutex_);
    events_.push_back(event);
    ready_.notify_one();
  }

  // What arrived, waiting up to `timeout` for something.
  std::deque<TokenEvent> take(Clock::duration timeout) {
    std::unique_lock lock(mutex_);
    ready_.wait_for(lock, timeout, [this] { return !events_.empty(); });
    return std::exchange(events_, {});
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<TokenEvent> events_;
};

// A request's latency metrics, taken on the engine thread as its events arrive.
class RequestTimer {
 public:
  RequestTimer(Metrics& metrics, Clock::time_point arrival) : metrics_(metrics), arrival_(arrival) {}

  void on_event(const TokenEvent& event) {
    Clock::time_point now = Clock::now();
    if (event.has_token) {
      metrics_.add_generated_tokens(1);
      if (tokens_ == 0) {
        first_ = now;
        metrics_.observe_time_to_first_token(seconds(now - arrival_));
      }
      last_ = now;
      ++tokens_;
    }
    if (event.finish != FinishReason::None) {
      metrics_.observe_request_latency(seconds(now - arrival_));
      if (tokens_ > 1) metrics_.observe_time_per_output_token(seconds(last_ - first_) / static_cast<double>(tokens_ - 1));
      metrics_.count_finish(finish_reason_name(event.finish));
    }
  }

 private:
  Metrics& metrics_;
  Clock::time_point arrival_, first_, last_;
  int64_t tokens_ = 0;
};

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(json_text(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& error) { send_json(res, error.status(), error_body(error)); }

// Compares in time independent of where the strings differ.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

struct Server::Impl {
  Impl(const DeepSeekModel& model, const Tokenizer& tokenizer, ServerOptions options);

  void add_routes();
  void generate(const httplib::Request& req, httplib::Response& res, Endpoint endpoint);
  std::vector<int32_t> prompt_tokens(const ApiRequest& request, ResponseInfo& info) const;
  void respond(httplib::Response& res, const ApiRequest& request, ResponseInfo info, uint64_t id,
               std::shared_ptr<EventQueue> events);
  json model_card() const;
  void authorize(const httplib::Request& req) const;
  httplib::Server::Handler api(void (Impl::*handler)(const httplib::Request&, httplib::Response&));
  void chat_completions(const httplib::Request& req, httplib::Response& res) { generate(req, res, Endpoint::ChatCompletions); }
  void completions(const httplib::Request& req, httplib::Response& res) { generate(req, res, Endpoint::Completions); }
  void models(const httplib::Request& req, httplib::Response& res);
  void model(const httplib::Request& req, httplib::Response& res);

  const DeepSeekModel& model_;
  const Tokenizer& tokenizer_;
  ServerOptions options_;
  ChatPrompts prompts_;
  Metrics metrics_;  // before the engine: its callbacks update it
  Engine engine_;
  int64_t context_limit_;  // positions one sequence may hold
  int64_t started_ = std::time(nullptr);
  httplib::Server http_;

  std::mutex mutex_;  // guards the fields below
  std::condition_variable changed_;
  bool shutdown_requested_ = false;
  bool draining_ = false;
  bool listen_failed_ = false;
  int active_ = 0;  // generation responses not yet written
};

Server::Impl::Impl(const DeepSeekModel& model, const Tokenizer& tokenizer, ServerOptions options)
    : model_(model),
      tokenizer_(tokenizer),
      options_(std::move(options)),
      prompts_(tokenizer.config(), options_.chat_template),
      engine_(model, &tokenizer, options_.engine) {
  if (tokenizer.vocab_size() > model.config().vocab_size)
    fail("the tokenizer has {} tokens but the model only {}: they do not belong together", tokenizer.vocab_size(),
         model.config().vocab_size);
  if (options_.http_threads < 1) fail("--http-threads must be at least 1, got {}", options_.http_threads);
  if (prompts_.empty())
    std::fprintf(stderr, "warning: no chat template: /v1/chat/completions will answer 400 (see --chat-template)\n");
  EngineStats stats = engine_.stats();
  context_limit_ = std::min(engine_.options().context, stats.kv_capacity_tokens);
  size_t threads = static_cast<size_t>(options_.http_threads);
  http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_.set_payload_max_length(options_.max_body_bytes);
  http_.set_keep_alive_max_count(1000);
  http_.set_tcp_nodelay(true);  // each streamed token is a small write that should leave at once
  add_routes();
}

void Server::Impl::authorize(const httplib::Request& req) const {
  if (options_.api_key.empty()) return;
  std::string header = req.get_header_value("Authorization");
  std::string_view given = header.starts_with("Bearer ") ? std::string_view(header).substr(7) : std::string_view();
  if (!same_secret(given, options_.api_key))
    throw ApiError(401, "Incorrect API key provided: pass it as \"Authorization: Bearer KEY\"", "", "invalid_api_key");
}

// Authorization is checked here, once httplib has read the body: a pre-routing handler would
// answer before that and leave the body unread on a kept-alive connection.
httplib::Server::Handler Server::Impl::api(void (Impl::*handler)(const httplib::Request&, httplib::Response&)) {
  return [this, handler](const httplib::Request& req, httplib::Response& res) {
    try {
      authorize(req);
      (this->*handler)(req, res);
    } catch (const ApiError& e) {
      send_error(res, e);
    } catch (const std::exception& e) {
      send_error(res, ApiError(500, e.what()));
    }
    // Counted now, not when written, so that a client sees the count once it has its answer.
    metrics_.count_response(res.status);
  };
}

void Server::Impl::add_routes() {
  http_.Post("/v1/chat/completions", api(&Impl::chat_completions));
  http_.Post("/v1/completions", api(&Impl::completions));
  http_.Get("/v1/models", api(&Impl::models));
  http_.Get("/v1/models/(.+)", api(&Impl::model));
  http_.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    send_json(res, draining_ ? 503 : 200, {{"status", draining_ ? "shutting down" : "ok"}});
  });
  http_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(engine_.stats()), "text/plain; version=0.0.4; charset=utf-8");
  });

  // Errors httplib answers itself (unknown routes, oversized or malformed requests) get
  // OpenAI's error shape too; responses that already have a body keep it.
  httplib::Server::HandlerWithResponse on_error = [this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    metrics_.count_response(res.status);
    if (res.status == 404) {
      send_error(res, ApiError(404, fmt::format("Unknown request URL: {} {}", req.method, req.path), "", "unknown_url"));
    } else if (res.status == 413) {
      send_error(res, ApiError(413, fmt::format("The request body is larger than the limit of {} bytes",
                                                options_.max_body_bytes), "", "request_too_large"));
    } else {
      send_error(res, ApiError(res.status, fmt::format("HTTP error {}", res.status)));
    }
    return httplib::Server::HandlerResponse::Handled;
  };
  http_.set_error_handler(on_error);
  http_.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
    std::string message = "internal error";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      message = e.what();
    } catch (...) {
    }
    send_error(res, ApiError(500, message));
  });
  http_.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    std::fprintf(stderr, "%s %s %d\n", req.method.c_str(), req.path.c_str(), res.status);
  });
}

json Server::Impl::model_card() const {
  return {{"id", options_.model_name}, {"object", "model"}, {"created", started_}, {"owned_by", "dseek"},
          {"max_model_len", context_limit_}};
}

void Server::Impl::models(const httplib::Request&, httplib::Response& res) {
  send_json(res, 200, {{"object", "list"}, {"data", json::array({model_card()})}});
}

void Server::Impl::model(const httplib::Request& req, httplib::Response& res) {
  std::string name = req.matches[1];
  if (name != options_.model_name)
    throw ApiError(404, fmt::format("The model `{}` does not exist", name), "model", "model_not_found");
  send_json(res, 200, model_card());
}

std::vector<int32_t> Server::Impl::prompt_tokens(const ApiRequest& request, ResponseInfo& info) const {
  if (!request.prompt_tokens.empty()) return request.prompt_tokens;
  std::vector<uint32_t> ids;
  try {
    if (request.endpoint == Endpoint::ChatCompletions) {
      ChatPrompts::Rendered rendered = prompts_.render(request);
      info.output = rendered.output;
      ids = tokenizer_.encode(rendered.text);  // the template writes the special tokens itself
    } else {
      ids = tokenizer_.encode(request.prompt_text, true);
    }
  } catch (const ApiError&) {
    throw;
  } catch (const Error& e) {
    throw ApiError(400, e.what(), request.endpoint == Endpoint::ChatCompletions ? "messages" : "prompt");
  }
  return {ids.begin(), ids.end()};
}

void Server::Impl::generate(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
  Clock::time_point arrival = Clock::now();
  ApiRequest request = parse_request(req.body, endpoint, options_.sampling_defaults, model_.config().vocab_size);
  if (!request.model.empty() && request.model != options_.model_name)
    throw ApiError(404, fmt::format("The model `{}` does not exist (this server serves `{}`)", request.model,
                                    options_.model_name), "model", "model_not_found");
  ResponseInfo info;
  GenerationRequest generation;
  generation.prompt = prompt_tokens(request, info);
  const char* prompt_field = endpoint == Endpoint::ChatCompletions ? "messages" : "prompt";
  auto prompt_size = static_cast<int64_t>(generation.prompt.size());
  if (prompt_size == 0) invalid_field(prompt_field, "the prompt is empty");
  if (prompt_size >= context_limit_)
    throw ApiError(400, fmt::format("This model's maximum context length is {} tokens, but the prompt has {} tokens",
                                    context_limit_, prompt_size), prompt_field, "context_length_exceeded");
  if (request.max_tokens && prompt_size + *request.max_tokens > context_limit_)
    throw ApiError(400, fmt::format("This model's maximum context length is {} tokens, but {} were requested ({} in the "
                                    "prompt, {} to generate)", context_limit_, prompt_size + *request.max_tokens,
                                    prompt_size, *request.max_tokens), "max_tokens", "context_length_exceeded");
  generation.sampling = request.sampling;
  generation.max_tokens = request.max_tokens.value_or(-1);
  generation.stop = request.stop;
  if (!request.ignore_eos) generation.stop_tokens = options_.eos_token_ids;
  // Tool-call markers may be special tokens: the parser needs to see them.
  generation.skip_special_tokens = info.output.tools == ToolCallSyntax::None;

  info.id = random_id(endpoint == Endpoint::ChatCompletions ? "chatcmpl-" : "cmpl-", 32);
  info.model = options_.model_name;
  info.created = std::time(nullptr);
  info.prompt_tokens = prompt_size;

  auto events = std::make_shared<EventQueue>();
  auto timer = std::make_shared<RequestTimer>(metrics_, arrival);
  uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    if (draining_) throw ApiError(503, "The server is shutting down");
    try {
      id = engine_.submit(std::move(generation), [events, timer](const TokenEvent& event) {
        timer->on_event(event);
        events->push(event);
      });
    } catch (const Error& e) {
      throw ApiError(400, e.what());
    }
    ++active_;
  }
  metrics_.add_prompt_tokens(prompt_size);
  respond(res, request, std::move(info), id, std::move(events));
}

// The response is written as events arrive; a client that goes away cancels its sequence (the
// releaser runs however the response ends).
void Server::Impl::respond(httplib::Response& res, const ApiRequest& request, ResponseInfo info, uint64_t id,
                           std::shared_ptr<EventQueue> events) {
  res.status = 200;
  auto writer = std::make_shared<ResponseWriter>(request, tokenizer_, std::move(info));
  auto release = [this, id](bool) {
    engine_.cancel(id);
    std::lock_guard lock(mutex_);
    --active_;
    changed_.notify_all();
  };
  if (request.stream) {
    res.set_header("Cache-Control", "no-cache");
    auto started = std::make_shared<bool>(false);
    res.set_chunked_content_provider(
        "text/event-stream",
        [writer, events, started](size_t, httplib::DataSink& sink) {
          std::string out = std::exchange(*started, true) ? "" : writer->stream_start();
          for (const TokenEvent& event : events->take(kPollInterval)) out += writer->stream(event);
          if (!sink.is_writable() || (!out.empty() && !sink.write(out.data(), out.size()))) return false;
          if (writer->finished()) sink.done();
          return true;
        },
        release);
  } else {
    // Chunked too, so that the wait can notice a client that has gone.
    res.set_chunked_content_provider(
        "application/json",
        [writer, events](size_t, httplib::DataSink& sink) {
          for (const TokenEvent& event : events->take(kPollInterval)) writer->add(event);
          if (!sink.is_writable()) return false;
          if (writer->finished()) {
            std::string body = json_text(writer->body());
            if (!sink.write(body.data(), body.size())) return false;
            sink.done();
          }
          return true;
        },
        release);
  }
}

Server::Server(const DeepSeekModel& model, const Tokenizer& tokenizer, ServerOptions options)
    : impl_(std::make_unique<Impl>(model, tokenizer, std::move(options))) {}

Server::~Server() = default;

int Server::bind() {
  const std::string& host = impl_->options_.host;
  int port = impl_->options_.port;
  if (port == 0) {
    port = impl_->http_.bind_to_any_port(host);
  } else if (!impl_->http_.bind_to_port(host, port)) {
    port = -1;
  }
  if (port <= 0) fail("cannot listen on {}:{}", host, impl_->options_.port);
  return port;
}

void Server::serve() {
  Impl& s = *impl_;
  s.engine_.start();
  std::thread listener([&s] {
    s.http_.listen_after_bind();
    std::lock_guard lock(s.mutex_);
    if (!s.shutdown_requested_) s.listen_failed_ = s.shutdown_requested_ = true;
    s.changed_.notify_all();
  });
  {
    std::unique_lock lock(s.mutex_);
    s.changed_.wait(lock, [&s] { return s.shutdown_requested_; });
    s.draining_ = true;
    auto grace = std::chrono::duration<double>(std::max(0.0, s.options_.shutdown_grace_seconds));
    s.changed_.wait_for(lock, grace, [&s] { return s.active_ == 0; });
  }
  s.engine_.stop();  // what is left ends with finish_reason "abort"
  {
    std::unique_lock lock(s.mutex_);
    s.changed_.wait_for(lock, kCancelWait, [&s] { return s.active_ == 0; });
  }
  s.http_.stop();
  listener.join();
  if (s.listen_failed_) fail("the HTTP server on {}:{} stopped accepting connections", s.options_.host, s.options_.port);
}

void Server::shutdown() {
  std::lock_guard lock(impl_->mutex_);
  impl_->shutdown_requested_ = true;
  impl_->changed_.notify_all();
}

}  // namespace dseek::server
