// The body of POST /v1/chat/completions and /v1/completions, checked field by field: every
// invalid field is an ApiError (400) that names it, as OpenAI's API does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/sampler.h"

namespace dseek::server {

enum class Endpoint { ChatCompletions, Completions };

struct ApiRequest {
  Endpoint endpoint = Endpoint::ChatCompletions;
  std::string model;  // empty when the request names none

  // Chat: messages with their content flattened to strings, ready for the chat template.
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  std::optional<nlohmann::ordered_json> tools;  // a non-empty list
  nlohmann::ordered_json tool_choice;           // null when absent
  nlohmann::ordered_json template_kwargs = nlohmann::ordered_json::object();  // chat_template_kwargs

  // Completions: text, or token ids (OpenAI allows a list of ints).
  std::string prompt_text;
  std::vector<int32_t> prompt_tokens;

  bool stream = false;
  bool include_usage = false;         // stream_options.include_usage
  std::optional<int64_t> max_tokens;  // max_completion_tokens, else max_tokens
  std::vector<std::string> stop;
  bool ignore_eos = false;            // vLLM's extension, for benchmarks
  bool logprobs = false;
  int top_logprobs = 0;
  SamplingParams sampling;

  // Whether generated DeepSeek tool-call markup becomes tool_calls.
  bool parse_tool_calls() const { return tools.has_value() && tool_choice != "none"; }
};

// Fields the request leaves out keep `defaults` (the model's generation_config.json). Token ids
// (prompt, logit_bias) must be below vocab_size. Unknown fields are ignored, as vLLM does.
ApiRequest parse_request(std::string_view body, Endpoint endpoint, const SamplingParams& defaults,
                         int64_t vocab_size);

}  // namespace dseek::server
