// The Prometheus text exposition of the server's metrics.
#include "server/metrics.h"

#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

namespace dseek::server {
namespace {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(ServerMetrics, HistogramBucketsAreCumulative) {
  Histogram h({0.1, 1});
  for (double v : {0.05, 0.1, 0.5, 3.0}) h.observe(v);
  std::string out;
  h.write(out, "x_seconds", "help text");
  EXPECT_EQ(out,
            "# HELP x_seconds help text\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{le=\"0.1\"} 2\n"
            "x_seconds_bucket{le=\"1\"} 3\n"
            "x_seconds_bucket{le=\"+Inf\"} 4\n"
            "x_seconds_sum 3.65\n"
            "x_seconds_count 4\n");
}

TEST(ServerMetrics, ExpositionIsWellFormedAndCounts) {
  Metrics m;
  m.count_response(200);
  m.count_response(200);
  m.count_response(400);
  m.add_prompt_tokens(13);
  m.add_generated_tokens(5);
  m.count_finish("length");
  m.observe_time_to_first_token(0.02);
  m.observe_time_per_output_token(0.004);
  m.observe_request_latency(0.3);
  EngineStats stats;
  stats.running = 2;
  stats.waiting = 3;
  stats.kv_used_tokens = 512;
  stats.kv_capacity_tokens = 2048;
  stats.kv_bytes = 2048 * 27 * 576 * 2;
  std::string text = m.render(stats);

  // Every sample line: a declared metric, optional labels, a number.
  const std::regex sample(R"(^([a-z][a-z0-9_]*?)(_bucket|_sum|_count)?(\{[a-z_]+="[^"]*"\})? (-?[0-9.e+-]+|\+Inf)$)");
  std::set<std::string> declared;
  for (const std::string& line : lines(text)) {
    std::smatch match;
    if (line.rfind("# TYPE ", 0) == 0) {
      declared.insert(line.substr(7, line.find(' ', 7) - 7));
    } else if (line.rfind("# HELP ", 0) != 0) {
      ASSERT_TRUE(std::regex_match(line, match, sample)) << line;
      std::string name = match[1];
      EXPECT_TRUE(declared.count(name) || declared.count(name + match[2].str())) << line;
    }
  }
  for (const char* expected :
       {"dseek_http_responses_total{status=\"200\"} 2", "dseek_http_responses_total{status=\"400\"} 1",
        "dseek_request_finished_total{reason=\"length\"} 1", "dseek_prompt_tokens_total 13",
        "dseek_generation_tokens_total 5", "dseek_num_requests_running 2", "dseek_num_requests_waiting 3",
        "dseek_kv_cache_used_tokens 512", "dseek_kv_cache_capacity_tokens 2048", "dseek_kv_cache_usage_ratio 0.25",
        "dseek_kv_cache_bytes 63700992", "dseek_time_to_first_token_seconds_bucket{le=\"0.02\"} 1", "dseek_time_to_first_token_seconds_count 1",
        "dseek_time_per_output_token_seconds_bucket{le=\"0.001\"} 0",
        "dseek_time_per_output_token_seconds_bucket{le=\"0.005\"} 1", "dseek_e2e_request_latency_seconds_sum 0.3"}) {
    EXPECT_NE(text.find(std::string(expected) + "\n"), std::string::npos) << expected;
  }
}

}  // namespace
}  // namespace dseek::server
