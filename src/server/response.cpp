#include "server/response.h"

#include <algorithm>
#include <random>

#include "server/api_error.h"

namespace dseek::server {
namespace {

using json = nlohmann::ordered_json;

}  // namespace

std::string json_text(const json& value) {
  // Replace, never throw: messages can quote bytes a client sent.
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string sse_event(const json& data) { return "data: " + json_text(data) + "\n\n"; }

std::string random_id(std::string_view prefix, size_t length) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string id(prefix);
  for (size_t i = 0; i < length; ++i) id += kAlphabet[pick(rng)];
  return id;
}

ResponseWriter::ResponseWriter(const ApiRequest& request, const Tokenizer& tokenizer, ResponseInfo info)
    : chat_(request.endpoint == Endpoint::ChatCompletions),
      logprobs_(request.logprobs),
      include_usage_(request.include_usage),
      tokenizer_(tokenizer),
      info_(std::move(info)),
      parser_(chat_ ? info_.output : ChatOutputOptions{}) {
  if (chat_) {
    logprobs_json_ = {{"content", json::array()}};
  } else {
    logprobs_json_ = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
                      {"text_offset", json::array()}};
  }
}

std::string ResponseWriter::token_text(int32_t token) const {
  uint32_t id = static_cast<uint32_t>(token);
  return tokenizer_.decode(std::span<const uint32_t>(&id, 1));
}

json ResponseWriter::chat_logprob(int32_t token, float logprob) const {
  std::string raw;
  tokenizer_.append_token_bytes(static_cast<uint32_t>(token), false, true, raw);
  json bytes = json::array();
  for (unsigned char c : raw) bytes.push_back(static_cast<int>(c));
  return {{"token", token_text(token)}, {"logprob", logprob}, {"bytes", std::move(bytes)}};
}

ResponseWriter::Piece ResponseWriter::take(const TokenEvent& event) {
  Piece piece;
  bool last = event.finish != FinishReason::None;
  if (chat_) {
    piece.delta = parser_.feed(event.text);
    if (last) piece.delta.append(parser_.finish());
  } else {
    piece.delta.content = event.text;
  }
  if (logprobs_ && event.has_token) {
    if (chat_) {
      json entry = chat_logprob(event.token, event.logprob);
      json top = json::array();
      for (const TokenLogprob& t : event.top_logprobs) top.push_back(chat_logprob(t.token, t.logprob));
      entry["top_logprobs"] = std::move(top);
      piece.logprobs = {{"content", json::array({std::move(entry)})}};
    } else {
      json top = json::object();
      for (const TokenLogprob& t : event.top_logprobs) top[token_text(t.token)] = t.logprob;
      piece.logprobs = {{"tokens", {token_text(event.token)}},
                        {"token_logprobs", {event.logprob}},
                        {"top_logprobs", json::array({std::move(top)})},
                        {"text_offset", {text_offset_}}};
    }
  }
  text_offset_ += static_cast<int64_t>(event.text.size());
  generated_tokens_ = std::max(generated_tokens_, event.generated_tokens);
  if (last) {
    finished_ = true;
    finish_ = event.finish;
    error_ = event.error;
  }
  return piece;
}

std::string ResponseWriter::finish_reason() const {
  switch (finish_) {
    case FinishReason::Stop: return tool_calls_ > 0 ? "tool_calls" : "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "abort";  // as vLLM: the server ended it
    case FinishReason::Error: return "error";
    case FinishReason::None: break;
  }
  return "";
}

json ResponseWriter::envelope(const char* object) const {
  return {{"id", info_.id}, {"object", object}, {"created", info_.created}, {"model", info_.model}};
}

json ResponseWriter::usage() const {
  return {{"prompt_tokens", info_.prompt_tokens},
          {"completion_tokens", generated_tokens_},
          {"total_tokens", info_.prompt_tokens + generated_tokens_}};
}

std::string ResponseWriter::chunk(json choice) const {
  json data = envelope(chat_ ? "chat.completion.chunk" : "text_completion");
  data["choices"] = json::array({std::move(choice)});
  if (include_usage_) data["usage"] = nullptr;  // OpenAI: null on all but the final usage chunk
  return sse_event(data);
}

std::string ResponseWriter::stream_start() {
  if (!chat_) return "";
  return chunk({{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr},
                {"finish_reason", nullptr}});
}

std::string ResponseWriter::stream(const TokenEvent& event) {
  Piece piece = take(event);
  std::string out;
  json logprobs = piece.logprobs.is_null() ? json(nullptr) : std::move(piece.logprobs);
  if (chat_) {
    std::vector<json> deltas;
    if (!piece.delta.reasoning.empty()) deltas.push_back({{"reasoning_content", piece.delta.reasoning}});
    if (!piece.delta.content.empty() || (deltas.empty() && !logprobs.is_null()))
      deltas.push_back({{"content", piece.delta.content}});
    for (ParsedToolCall& call : piece.delta.tool_calls) {
      json function = {{"name", std::move(call.name)}, {"arguments", std::move(call.arguments)}};
      json entry = {{"index", tool_calls_++}, {"id", random_id("call_")}, {"type", "function"}, {"function", function}};
      deltas.push_back({{"tool_calls", json::array({std::move(entry)})}});
    }
    for (json& delta : deltas) {
      out += chunk({{"index", 0}, {"delta", std::move(delta)}, {"logprobs", logprobs}, {"finish_reason", nullptr}});
      logprobs = nullptr;  // a token's logprobs go with its first chunk
    }
    if (finished_ && finish_ != FinishReason::Error)
      out += chunk({{"index", 0}, {"delta", json::object()}, {"logprobs", nullptr}, {"finish_reason", finish_reason()}});
  } else if (!piece.delta.content.empty() || !logprobs.is_null() || (finished_ && finish_ != FinishReason::Error)) {
    out += chunk({{"index", 0},
                  {"text", piece.delta.content},
                  {"logprobs", logprobs},
                  {"finish_reason", finished_ ? json(finish_reason()) : json(nullptr)}});
  }
  if (finished_) {
    // Headers are sent: a failure mid-generation can only be an error event (as vLLM sends).
    if (finish_ == FinishReason::Error) out += sse_event(error_body(500, error_));
    if (include_usage_) {
      json data = envelope(chat_ ? "chat.completion.chunk" : "text_completion");
      data["choices"] = json::array();
      data["usage"] = usage();
      out += sse_event(data);
    }
    out += "data: [DONE]\n\n";
  }
  return out;
}

void ResponseWriter::add(const TokenEvent& event) {
  Piece piece = take(event);
  for (ParsedToolCall& call : piece.delta.tool_calls) {
    tool_calls_json_.push_back({{"id", random_id("call_")},
                                {"type", "function"},
                                {"function", {{"name", std::move(call.name)}, {"arguments", std::move(call.arguments)}}}});
    ++tool_calls_;
  }
  piece.delta.tool_calls.clear();
  reply_.append(std::move(piece.delta));
  if (!piece.logprobs.is_null())
    for (auto& [key, values] : piece.logprobs.items())
      for (json& value : values) logprobs_json_[key].push_back(std::move(value));
}

json ResponseWriter::body() const {
  if (finish_ == FinishReason::Error) return error_body(500, error_);
  json choice = {{"index", 0}};
  if (chat_) {
    json message = {{"role", "assistant"}};
    message["content"] = reply_.content.empty() && tool_calls_ > 0 ? json(nullptr) : json(reply_.content);
    if (info_.output.reasoning) message["reasoning_content"] = reply_.reasoning;
    if (tool_calls_ > 0) message["tool_calls"] = tool_calls_json_;
    choice["message"] = std::move(message);
  } else {
    choice["text"] = reply_.content;
  }
  choice["logprobs"] = logprobs_ ? logprobs_json_ : json(nullptr);
  choice["finish_reason"] = finish_reason();
  json data = envelope(chat_ ? "chat.completion" : "text_completion");
  data["choices"] = json::array({std::move(choice)});
  data["usage"] = usage();
  return data;
}

}  // namespace dseek::server
