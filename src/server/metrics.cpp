#include "server/metrics.h"

#include <fmt/format.h>

namespace dseek::server {
namespace {

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void single(std::string& out, std::string_view name, std::string_view type, std::string_view help, double value) {
  header(out, name, type, help);
  out += fmt::format("{} {}\n", name, value);
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  size_t bucket = 0;
  while (bucket < bounds_.size() && value > bounds_[bucket]) ++bucket;
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

void Histogram::write(std::string& out, std::string_view name, std::string_view help) const {
  header(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    cumulative += counts_[i];
    std::string le = i < bounds_.size() ? fmt::format("{}", bounds_[i]) : "+Inf";
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, le, cumulative);
  }
  out += fmt::format("{}_sum {}\n{}_count {}\n", name, sum_, name, count_);
}

// Buckets as vLLM's: from a millisecond to minutes.
Metrics::Metrics()
    : time_to_first_token_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20,
                            40, 80}),
      time_per_output_token_({0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5}),
      request_latency_({0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480}) {}

void Metrics::count_response(int status) {
  std::lock_guard lock(mutex_);
  ++responses_[status];
}

void Metrics::add_prompt_tokens(int64_t tokens) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += static_cast<uint64_t>(tokens);
}

void Metrics::add_generated_tokens(int64_t tokens) {
  std::lock_guard lock(mutex_);
  generated_tokens_ += static_cast<uint64_t>(tokens);
}

void Metrics::count_finish(std::string_view reason) {
  std::lock_guard lock(mutex_);
  auto it = finished_.find(reason);
  if (it == finished_.end()) it = finished_.emplace(std::string(reason), 0).first;
  ++it->second;
}

void Metrics::observe_time_to_first_token(double seconds) {
  std::lock_guard lock(mutex_);
  time_to_first_token_.observe(seconds);
}

void Metrics::observe_time_per_output_token(double seconds) {
  std::lock_guard lock(mutex_);
  time_per_output_token_.observe(seconds);
}

void Metrics::observe_request_latency(double seconds) {
  std::lock_guard lock(mutex_);
  request_latency_.observe(seconds);
}

std::string Metrics::render(const EngineStats& engine) const {
  std::lock_guard lock(mutex_);
  std::string out;
  header(out, "dseek_http_responses_total", "counter", "Responses to API requests, by HTTP status code.");
  for (const auto& [status, count] : responses_)
    out += fmt::format("dseek_http_responses_total{{status=\"{}\"}} {}\n", status, count);
  header(out, "dseek_request_finished_total", "counter", "Generation requests finished, by reason.");
  for (const auto& [reason, count] : finished_)
    out += fmt::format("dseek_request_finished_total{{reason=\"{}\"}} {}\n", reason, count);
  single(out, "dseek_prompt_tokens_total", "counter", "Prompt tokens of accepted requests.",
         static_cast<double>(prompt_tokens_));
  single(out, "dseek_generation_tokens_total", "counter", "Generated tokens.", static_cast<double>(generated_tokens_));
  single(out, "dseek_num_requests_running", "gauge", "Sequences in the running batch.", engine.running);
  single(out, "dseek_num_requests_waiting", "gauge", "Requests queued for a slot or KV cache room.", engine.waiting);
  single(out, "dseek_kv_cache_used_tokens", "gauge", "KV cache positions reserved by running sequences.",
         static_cast<double>(engine.kv_used_tokens));
  single(out, "dseek_kv_cache_capacity_tokens", "gauge", "KV cache positions in all.",
         static_cast<double>(engine.kv_capacity_tokens));
  single(out, "dseek_kv_cache_bytes", "gauge", "Memory of the KV cache, all of its positions (its type: --cache-type).",
         static_cast<double>(engine.kv_bytes));
  single(out, "dseek_kv_cache_usage_ratio", "gauge", "Fraction of the KV cache reserved (0 to 1).",
         engine.kv_capacity_tokens > 0
             ? static_cast<double>(engine.kv_used_tokens) / static_cast<double>(engine.kv_capacity_tokens)
             : 0.0);
  time_to_first_token_.write(out, "dseek_time_to_first_token_seconds",
                             "Time from a request's arrival to its first generated token.");
  time_per_output_token_.write(out, "dseek_time_per_output_token_seconds",
                               "Mean time between a request's generated tokens, after the first.");
  request_latency_.write(out, "dseek_e2e_request_latency_seconds", "Time from a request's arrival to its last token.");
  return out;
}

}  // namespace dseek::server
