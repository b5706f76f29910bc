// Turns one request's TokenEvents into OpenAI's response objects: chat.completion and
// text_completion bodies, or their streamed chunks as Server-Sent Events.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/engine.h"
#include "server/chat_output.h"
#include "server/request.h"
#include "tokenizer/tokenizer.h"

namespace dseek::server {

struct ResponseInfo {
  std::string id;     // chatcmpl-... or cmpl-...
  std::string model;
  int64_t created = 0;  // Unix seconds
  int64_t prompt_tokens = 0;
  ChatOutputOptions output;  // how to read chat output
};

class ResponseWriter {
 public:
  // The tokenizer spells tokens for logprobs; it must outlive the writer.
  ResponseWriter(const ApiRequest& request, const Tokenizer& tokenizer, ResponseInfo info);

  // Streaming. The SSE text that opens the stream (chat: the assistant role chunk).
  std::string stream_start();
  // The SSE chunks one event adds; after the last event, the usage chunk (when asked for)
  // and "data: [DONE]".
  std::string stream(const TokenEvent& event);

  // Not streaming: collects events; after the last one, body() is the whole response (an error
  // body if generation failed: the 200 status is sent by then).
  void add(const TokenEvent& event);
  nlohmann::ordered_json body() const;

  bool finished() const { return finished_; }

 private:
  struct Piece {
    ChatDelta delta;
    nlohmann::ordered_json logprobs;  // this event's token, in the endpoint's logprobs shape
  };
  Piece take(const TokenEvent& event);
  std::string finish_reason() const;
  nlohmann::ordered_json envelope(const char* object) const;
  nlohmann::ordered_json usage() const;
  nlohmann::ordered_json chat_logprob(int32_t token, float logprob) const;
  std::string token_text(int32_t token) const;
  std::string chunk(nlohmann::ordered_json choice) const;

  bool chat_;
  bool logprobs_;
  bool include_usage_;
  const Tokenizer& tokenizer_;
  ResponseInfo info_;
  ChatOutputParser parser_;

  bool finished_ = false;
  FinishReason finish_ = FinishReason::None;
  std::string error_;  // why generation failed (FinishReason::Error)
  int64_t generated_tokens_ = 0;
  int64_t text_offset_ = 0;  // completions' text_offset of the next token
  int tool_calls_ = 0;       // returned so far (the index of the next one)

  // Not streaming: the whole reply.
  ChatDelta reply_;
  nlohmann::ordered_json tool_calls_json_ = nlohmann::ordered_json::array();
  nlohmann::ordered_json logprobs_json_;
};

// Compact JSON; invalid UTF-8 (a client's bytes quoted in a message) becomes U+FFFD.
std::string json_text(const nlohmann::ordered_json& value);
// "data: {json}\n\n"
std::string sse_event(const nlohmann::ordered_json& data);

// A fresh id with a prefix ("chatcmpl-", "call_"): random letters and digits.
std::string random_id(std::string_view prefix, size_t length = 24);

}  // namespace dseek::server
