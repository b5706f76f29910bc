#include "server/chat_output.h"

#include <algorithm>
#include <optional>

#include <nlohmann/json.hpp>

namespace dseek::server {
namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";

constexpr std::string_view kCallsBegin = "<｜tool▁calls▁begin｜>";
constexpr std::string_view kCallsEnd = "<｜tool▁calls▁end｜>";
constexpr std::string_view kCallBegin = "<｜tool▁call▁begin｜>";
constexpr std::string_view kCallEnd = "<｜tool▁call▁end｜>";
constexpr std::string_view kSep = "<｜tool▁sep｜>";

constexpr std::string_view kDsmlFunctionCalls = "<｜DSML｜function_calls>";
constexpr std::string_view kDsmlToolCalls = "<｜DSML｜tool_calls>";
constexpr std::string_view kDsmlInvoke = "<｜DSML｜invoke";
constexpr std::string_view kDsmlInvokeEnd = "</｜DSML｜invoke>";
constexpr std::string_view kDsmlParameter = "<｜DSML｜parameter";
constexpr std::string_view kDsmlParameterEnd = "</｜DSML｜parameter>";

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

size_t trailing_space(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && is_space(s[s.size() - 1 - n])) ++n;
  return n;
}

// Length of the longest tail of text that is a proper beginning of marker: it must wait.
size_t partial_marker(std::string_view text, std::string_view marker) {
  for (size_t n = std::min(text.size(), marker.size() - 1); n > 0; --n)
    if (text.substr(text.size() - n) == marker.substr(0, n)) return n;
  return 0;
}

// text[pos...] up to `end`, or nullopt when `end` does not follow; pos moves past `end`.
std::optional<std::string_view> take_until(std::string_view text, size_t& pos, std::string_view end) {
  size_t found = text.find(end, pos);
  if (found == std::string_view::npos) return std::nullopt;
  std::string_view part = text.substr(pos, found - pos);
  pos = found + end.size();
  return part;
}

bool take(std::string_view text, size_t& pos, std::string_view expected) {
  if (text.substr(pos, expected.size()) != expected) return false;
  pos += expected.size();
  return true;
}

}  // namespace

void ChatDelta::append(ChatDelta other) {
  reasoning += other.reasoning;
  content += other.content;
  for (auto& call : other.tool_calls) tool_calls.push_back(std::move(call));
}

bool parse_deepseek_tool_call(std::string_view text, ParsedToolCall& call) {
  size_t sep = text.find(kSep);
  if (sep == std::string_view::npos) return false;
  std::string_view left = trim(text.substr(0, sep));
  std::string_view right = text.substr(sep + kSep.size());
  std::string_view name = left;
  std::string_view arguments = right;
  // V3/R1 put the type first and fence the arguments; V3.1 puts the name first.
  size_t newline = right.find('\n');
  if (left == "function" && newline != std::string_view::npos &&
      trim(right.substr(newline)).substr(0, 3) == "```") {
    name = right.substr(0, newline);
    arguments = trim(right.substr(newline));
    arguments.remove_prefix(arguments.find('\n') == std::string_view::npos ? arguments.size() : arguments.find('\n'));
    arguments = trim(arguments);
    if (arguments.size() >= 3 && arguments.substr(arguments.size() - 3) == "```") arguments.remove_suffix(3);
  }
  name = trim(name);
  arguments = trim(arguments);
  if (name.empty()) return false;
  call.name = std::string(name);
  call.arguments = arguments.empty() ? "{}" : std::string(arguments);
  return true;
}

bool parse_dsml_invoke(std::string_view text, ParsedToolCall& call) {
  size_t pos = 0;
  if (!take(text, pos, kDsmlInvoke) || !take(text, pos, " name=\"")) return false;
  auto name = take_until(text, pos, "\">");
  if (!name || name->empty()) return false;
  nlohmann::ordered_json arguments = nlohmann::ordered_json::object();
  while (true) {
    while (pos < text.size() && is_space(text[pos])) ++pos;
    if (pos == text.size()) break;
    if (!take(text, pos, kDsmlParameter) || !take(text, pos, " name=\"")) return false;
    auto key = take_until(text, pos, "\"");
    if (!key || !take(text, pos, " string=\"")) return false;
    auto is_string = take_until(text, pos, "\">");
    if (!is_string) return false;
    auto value = take_until(text, pos, kDsmlParameterEnd);
    if (!value) return false;
    nlohmann::ordered_json parsed = std::string(*value);
    if (*is_string != "true") {
      parsed = nlohmann::ordered_json::parse(*value, nullptr, false);
      if (parsed.is_discarded()) parsed = std::string(*value);  // keep what the model wrote
    }
    arguments[std::string(*key)] = std::move(parsed);
  }
  call.name = std::string(*name);
  call.arguments = arguments.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  return true;
}

ChatOutputParser::ChatOutputParser(ChatOutputOptions options)
    : options_(options),
      state_(!options.reasoning ? State::Content : options.starts_in_reasoning ? State::Reasoning : State::Start) {}

ChatDelta ChatOutputParser::feed(std::string_view text) {
  buffer_ += text;
  ChatDelta out;
  run(out, false);
  return out;
}

ChatDelta ChatOutputParser::finish() {
  ChatDelta out;
  run(out, true);
  return out;
}

void ChatOutputParser::run(ChatDelta& out, bool final) {
  while (step(out, final)) {
  }
}

bool ChatOutputParser::step(ChatDelta& out, bool final) {
  switch (state_) {
    case State::Start: return start(final);
    case State::Reasoning: return reasoning(out, final);
    case State::Content: return content(out, final);
    case State::ToolCalls: return tool_calls(out, final);
    case State::AfterToolCalls:
      state_ = State::Content;
      return true;
  }
  return false;
}

// A model may open its reasoning itself (R1 did before its template added <think>).
bool ChatOutputParser::start(bool final) {
  if (buffer_.starts_with(kThinkOpen)) {
    buffer_.erase(0, kThinkOpen.size());
    state_ = State::Reasoning;
    return true;
  }
  if (!final && kThinkOpen.starts_with(buffer_)) return false;
  state_ = State::Content;
  return true;
}

bool ChatOutputParser::reasoning(ChatDelta& out, bool final) {
  size_t close = buffer_.find(kThinkClose);
  if (close != std::string::npos) {
    out.reasoning += buffer_.substr(0, close);
    buffer_.erase(0, close + kThinkClose.size());
    state_ = State::Content;
    strip_newlines_ = true;
    return true;
  }
  size_t ready = buffer_.size() - (final ? 0 : partial_marker(buffer_, kThinkClose));
  out.reasoning += buffer_.substr(0, ready);
  buffer_.erase(0, ready);
  return false;
}

bool ChatOutputParser::content(ChatDelta& out, bool final) {
  if (strip_newlines_) {
    size_t text = buffer_.find_first_not_of("\r\n");
    buffer_.erase(0, text == std::string::npos ? buffer_.size() : text);
    if (buffer_.empty()) return false;
    strip_newlines_ = false;
  }
  if (options_.tools == ToolCallSyntax::None) {
    out.content += buffer_;
    buffer_.clear();
    return false;
  }
  std::vector<std::pair<std::string_view, std::string_view>> sections;  // begin and end markers
  if (options_.tools == ToolCallSyntax::DeepSeek) {
    sections = {{kCallsBegin, kCallsEnd}};
  } else {
    sections = {{kDsmlFunctionCalls, "</｜DSML｜function_calls>"}, {kDsmlToolCalls, "</｜DSML｜tool_calls>"}};
  }
  size_t wait = 0;
  for (const auto& [begin, end] : sections) {
    size_t at = buffer_.find(begin);
    if (at != std::string::npos) {
      // The whitespace before the section separates it from the text; it is not content.
      std::string_view before(buffer_.data(), at);
      out.content += before.substr(0, before.size() - trailing_space(before));
      tool_section_ = buffer_.substr(at, begin.size());
      close_marker_ = std::string(end);
      buffer_.erase(0, at + begin.size());
      calls_done_ = false;
      state_ = State::ToolCalls;
      return true;
    }
    wait = std::max(wait, partial_marker(buffer_, begin));
  }
  // Whitespace before a possible section waits too: it is dropped if the section comes.
  wait += trailing_space(std::string_view(buffer_).substr(0, buffer_.size() - wait));
  size_t ready = final ? buffer_.size() : buffer_.size() - wait;
  out.content += buffer_.substr(0, ready);
  buffer_.erase(0, ready);
  return false;
}

bool ChatOutputParser::tool_calls(ChatDelta& out, bool final) {
  size_t text = 0;
  while (text < buffer_.size() && is_space(buffer_[text])) ++text;
  tool_section_ += buffer_.substr(0, text);
  buffer_.erase(0, text);
  bool dsml = options_.tools == ToolCallSyntax::Dsml;
  std::string_view call_begin = dsml ? kDsmlInvoke : kCallBegin;
  std::string_view call_end = dsml ? kDsmlInvokeEnd : kCallEnd;
  if (buffer_.starts_with(close_marker_)) {
    buffer_.erase(0, close_marker_.size());
    tool_section_.clear();
    state_ = State::AfterToolCalls;
    return true;
  }
  if (buffer_.starts_with(call_begin)) {
    size_t end = buffer_.find(call_end);
    if (end != std::string::npos) {
      ParsedToolCall call;
      std::string_view body(buffer_.data(), end);
      bool ok = dsml ? parse_dsml_invoke(body, call) : parse_deepseek_tool_call(body.substr(call_begin.size()), call);
      if (ok) {
        out.tool_calls.push_back(std::move(call));
        calls_done_ = true;
        tool_section_.clear();
      } else {
        out.content += tool_section_ + buffer_.substr(0, end + call_end.size());
        tool_section_.clear();
      }
      buffer_.erase(0, end + call_end.size());
      return true;
    }
  } else if (!final && (std::string_view(close_marker_).starts_with(buffer_) || call_begin.starts_with(buffer_))) {
    return false;
  } else if (!buffer_.empty()) {
    // Not tool-call markup after all: back to plain text.
    out.content += tool_section_;
    tool_section_.clear();
    state_ = State::Content;
    return true;
  }
  if (final) {
    // Generation ended inside the section: what did not parse is shown, not lost.
    std::string rest = tool_section_ + buffer_;
    out.content += calls_done_ ? std::string(trim(rest)) : rest;
    tool_section_.clear();
    buffer_.clear();
  }
  return false;
}

}  // namespace dseek::server
