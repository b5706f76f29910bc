// The server's counters and histograms, exposed at GET /metrics in Prometheus' text format
// (version 0.0.4). Thread-safe: HTTP threads and the engine thread update it.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/engine.h"

namespace dseek::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);  // ascending; +Inf is implied
  void observe(double value);
  // The _bucket (cumulative), _sum and _count lines of metric `name`.
  void write(std::string& out, std::string_view name, std::string_view help) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; the last one is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();

  void count_response(int status);  // of the API routes (not /health, /metrics)
  void add_prompt_tokens(int64_t tokens);
  void add_generated_tokens(int64_t tokens);
  void count_finish(std::string_view reason);  // stop, length, cancelled
  void observe_time_to_first_token(double seconds);
  void observe_time_per_output_token(double seconds);
  void observe_request_latency(double seconds);

  // Everything, with the engine's running/waiting sequences and KV cache use as gauges.
  std::string render(const EngineStats& engine) const;

 private:
  mutable std::mutex mutex_;
  std::map<int, uint64_t> responses_;  // by HTTP status
  std::map<std::string, uint64_t, std::less<>> finished_;
  uint64_t prompt_tokens_ = 0;
  uint64_t generated_tokens_ = 0;
  Histogram time_to_first_token_;
  Histogram time_per_output_token_;
  Histogram request_latency_;
};

}  // namespace dseek::server
