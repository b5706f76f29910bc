#include "server/request.h"

#include <cmath>
#include <limits>

#include "server/api_error.h"

namespace dseek::server {
namespace {

using json = nlohmann::ordered_json;

// Deeper nesting than any real request needs; the limit keeps later recursive walks (the chat
// template's view of messages) bounded whatever a client sends.
constexpr int kMaxDepth = 64;
constexpr int kMaxLogprobs = 20;

const char* type_name(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::number_float: return "a number";
    default: return "an integer";
  }
}

// One JSON object of the request; `path` ("messages[2]") prefixes the names of its fields.
class Fields {
 public:
  Fields(const json& object, std::string path) : object_(object), path_(std::move(path)) {}

  std::string name(std::string_view key) const { return path_.empty() ? std::string(key) : path_ + "." + std::string(key); }

  // Null counts as absent, as in OpenAI's API.
  const json* get(std::string_view key) const {
    auto it = object_.find(key);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }

  [[noreturn]] void wrong_type(std::string_view key, const char* expected, const json& value) const {
    invalid_field(name(key), "{} must be {}, got {}", name(key), expected, type_name(value));
  }

  std::optional<bool> boolean(std::string_view key) const {
    const json* value = get(key);
    if (!value) return std::nullopt;
    if (!value->is_boolean()) wrong_type(key, "a boolean", *value);
    return value->get<bool>();
  }

  std::optional<std::string> string(std::string_view key) const {
    const json* value = get(key);
    if (!value) return std::nullopt;
    if (!value->is_string()) wrong_type(key, "a string", *value);
    return value->get<std::string>();
  }

  // A number in [lo, hi]; with open_low, lo itself is excluded.
  std::optional<double> number(std::string_view key, double lo, double hi, bool open_low = false) const {
    const json* value = get(key);
    if (!value) return std::nullopt;
    if (!value->is_number()) wrong_type(key, "a number", *value);
    double x = value->get<double>();
    if (!(open_low ? x > lo : x >= lo) || !(x <= hi))
      invalid_field(name(key), "{} must be {} {} and <= {}, got {}", name(key), open_low ? ">" : ">=", lo, hi, x);
    return x;
  }

  std::optional<int64_t> integer(std::string_view key, int64_t lo, int64_t hi) const {
    const json* value = get(key);
    if (!value) return std::nullopt;
    if (!value->is_number_integer()) wrong_type(key, "an integer", *value);
    bool too_big = value->is_number_unsigned() &&
                   value->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    int64_t x = too_big ? std::numeric_limits<int64_t>::max() : value->get<int64_t>();
    if (too_big || x < lo || x > hi)
      invalid_field(name(key), "{} must be an integer between {} and {}, got {}", name(key), lo, hi, value->dump());
    return x;
  }

  const json& object() const { return object_; }

 private:
  const json& object_;
  std::string path_;
};

std::string index_name(std::string_view base, size_t i) { return fmt::format("{}[{}]", base, i); }

int32_t token_id(const json& value, const std::string& name, int64_t vocab_size) {
  if (!value.is_number_integer()) invalid_field(name, "{} must be a token id (an integer), got {}", name, type_name(value));
  if (value.is_number_unsigned() ? value.get<uint64_t>() >= static_cast<uint64_t>(vocab_size)
                                 : (value.get<int64_t>() < 0 || value.get<int64_t>() >= vocab_size))
    invalid_field(name, "{}: token id {} is outside the vocabulary [0, {})", name, value.dump(), vocab_size);
  return static_cast<int32_t>(value.get<int64_t>());
}

// Message content: a string, or a list of text parts (joined with newlines, as vLLM does).
json flatten_content(const json& content, const std::string& name) {
  if (content.is_string()) return content;
  if (!content.is_array()) invalid_field(name, "{} must be a string or a list of content parts, got {}", name, type_name(content));
  std::string text;
  for (size_t j = 0; j < content.size(); ++j) {
    std::string part_name = index_name(name, j);
    if (!content[j].is_object()) invalid_field(part_name, "{} must be an object, got {}", part_name, type_name(content[j]));
    Fields part(content[j], part_name);
    std::optional<std::string> type = part.string("type");
    if (!type) invalid_field(part.name("type"), "{} is required", part.name("type"));
    if (*type != "text")
      invalid_field(part.name("type"), "{}: only \"text\" content parts are supported, got \"{}\"", part.name("type"), *type);
    std::optional<std::string> part_text = part.string("text");
    if (!part_text) invalid_field(part.name("text"), "{} is required", part.name("text"));
    if (j > 0) text += '\n';
    text += *part_text;
  }
  return text;
}

void check_tool_calls(const json& calls, const std::string& name) {
  if (!calls.is_array()) invalid_field(name, "{} must be an array, got {}", name, type_name(calls));
  for (size_t j = 0; j < calls.size(); ++j) {
    std::string call_name = index_name(name, j);
    if (!calls[j].is_object()) invalid_field(call_name, "{} must be an object, got {}", call_name, type_name(calls[j]));
    Fields call(calls[j], call_name);
    const json* function = call.get("function");
    if (!function || !function->is_object())
      invalid_field(call.name("function"), "{} must be an object with name and arguments", call.name("function"));
    Fields f(*function, call.name("function"));
    if (!f.string("name")) invalid_field(f.name("name"), "{} is required", f.name("name"));
    if (!f.string("arguments")) invalid_field(f.name("arguments"), "{} is required (a JSON string)", f.name("arguments"));
  }
}

json parse_messages(const Fields& body) {
  const json* messages = body.get("messages");
  if (!messages) invalid_field("messages", "messages is required");
  if (!messages->is_array()) body.wrong_type("messages", "an array", *messages);
  if (messages->empty()) invalid_field("messages", "messages must not be empty");
  json out = json::array();
  for (size_t i = 0; i < messages->size(); ++i) {
    std::string name = index_name("messages", i);
    const json& message = (*messages)[i];
    if (!message.is_object()) invalid_field(name, "{} must be an object, got {}", name, type_name(message));
    Fields m(message, name);
    std::optional<std::string> role = m.string("role");
    if (!role) invalid_field(m.name("role"), "{} is required", m.name("role"));
    if (*role != "system" && *role != "developer" && *role != "user" && *role != "assistant" && *role != "tool")
      invalid_field(m.name("role"), "{}: unknown role \"{}\" (system, developer, user, assistant, tool)", m.name("role"), *role);
    json copy = message;
    bool has_tool_calls = false;
    if (*role == "assistant") {
      if (const json* calls = m.get("tool_calls")) {
        check_tool_calls(*calls, m.name("tool_calls"));
        has_tool_calls = !calls->empty();
      }
      m.string("reasoning_content");
    }
    if (*role == "tool" && !m.string("tool_call_id"))
      invalid_field(m.name("tool_call_id"), "{} is required", m.name("tool_call_id"));
    if (const json* content = m.get("content")) {
      copy["content"] = flatten_content(*content, m.name("content"));
    } else if (!has_tool_calls) {
      invalid_field(m.name("content"), "{} is required", m.name("content"));
    } else {
      copy["content"] = nullptr;  // templates test `content is none` for tool-call turns
    }
    m.string("name");
    out.push_back(std::move(copy));
  }
  return out;
}

void parse_tools(const Fields& body, ApiRequest& request) {
  if (const json* tools = body.get("tools")) {
    if (!tools->is_array()) body.wrong_type("tools", "an array", *tools);
    for (size_t i = 0; i < tools->size(); ++i) {
      std::string name = index_name("tools", i);
      if (!(*tools)[i].is_object()) invalid_field(name, "{} must be an object, got {}", name, type_name((*tools)[i]));
      Fields tool((*tools)[i], name);
      std::optional<std::string> type = tool.string("type");
      if (type != "function") invalid_field(tool.name("type"), "{} must be \"function\"", tool.name("type"));
      const json* function = tool.get("function");
      if (!function || !function->is_object()) invalid_field(tool.name("function"), "{} must be an object", tool.name("function"));
      Fields f(*function, tool.name("function"));
      std::optional<std::string> function_name = f.string("name");
      if (!function_name || function_name->empty())
        invalid_field(f.name("name"), "{} is required", f.name("name"));
      f.string("description");
      if (const json* parameters = f.get("parameters"); parameters && !parameters->is_object())
        f.wrong_type("parameters", "an object (a JSON schema)", *parameters);
    }
    if (!tools->empty()) request.tools = *tools;
  }
  const json* choice = body.get("tool_choice");
  if (!choice) return;
  if (choice->is_string()) {
    std::string mode = choice->get<std::string>();
    if (mode != "none" && mode != "auto" && mode != "required")
      invalid_field("tool_choice", "tool_choice must be \"none\", \"auto\", \"required\" or a function, got \"{}\"", mode);
  } else if (choice->is_object()) {
    Fields c(*choice, "tool_choice");
    const json* function = c.get("function");
    std::optional<std::string> name;
    if (function && function->is_object()) name = Fields(*function, "tool_choice.function").string("name");
    if (c.string("type") != "function" || !name)
      invalid_field("tool_choice", "tool_choice must be {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}");
    bool known = false;
    if (request.tools)
      for (const json& tool : *request.tools) known = known || tool.at("function").at("name") == *name;
    if (!known) invalid_field("tool_choice", "tool_choice names the function \"{}\", which is not in tools", *name);
  } else {
    body.wrong_type("tool_choice", "a string or an object", *choice);
  }
  if (!request.tools && *choice != "none")
    invalid_field("tool_choice", "tool_choice needs tools");
  request.tool_choice = *choice;
}

void parse_prompt(const Fields& body, ApiRequest& request, int64_t vocab_size) {
  const json* prompt = body.get("prompt");
  if (!prompt) invalid_field("prompt", "prompt is required");
  const json* single = prompt;
  // A list of one prompt is a batch of one; larger batches are not supported.
  if (prompt->is_array() && !prompt->empty() && ((*prompt)[0].is_string() || (*prompt)[0].is_array())) {
    if (prompt->size() != 1)
      invalid_field("prompt", "prompt: only one prompt per request is supported, got {}", prompt->size());
    single = &(*prompt)[0];
  }
  if (single->is_string()) {
    request.prompt_text = single->get<std::string>();
    return;
  }
  if (!single->is_array()) body.wrong_type("prompt", "a string or a list of token ids", *prompt);
  if (single->empty()) invalid_field("prompt", "prompt must not be empty");
  for (size_t i = 0; i < single->size(); ++i)
    request.prompt_tokens.push_back(token_id((*single)[i], index_name("prompt", i), vocab_size));
}

void parse_stop(const Fields& body, ApiRequest& request) {
  const json* stop = body.get("stop");
  if (!stop) return;
  if (stop->is_string()) {
    request.stop.push_back(stop->get<std::string>());
  } else if (stop->is_array()) {
    for (size_t i = 0; i < stop->size(); ++i) {
      if (!(*stop)[i].is_string())
        invalid_field("stop", "{} must be a string, got {}", index_name("stop", i), type_name((*stop)[i]));
      request.stop.push_back((*stop)[i].get<std::string>());
    }
  } else {
    body.wrong_type("stop", "a string or a list of strings", *stop);
  }
  for (const std::string& s : request.stop)
    if (s.empty()) invalid_field("stop", "stop strings must not be empty");
}

void parse_sampling(const Fields& body, ApiRequest& request, int64_t vocab_size) {
  SamplingParams& s = request.sampling;
  if (auto x = body.number("temperature", 0, 2)) s.temperature = static_cast<float>(*x);
  if (auto x = body.number("top_p", 0, 1, true)) s.top_p = static_cast<float>(*x);
  if (auto x = body.integer("top_k", -1, std::numeric_limits<int32_t>::max())) s.top_k = static_cast<int32_t>(*x);
  if (auto x = body.number("min_p", 0, 1)) s.min_p = static_cast<float>(*x);
  if (auto x = body.number("presence_penalty", -2, 2)) s.presence_penalty = static_cast<float>(*x);
  if (auto x = body.number("frequency_penalty", -2, 2)) s.frequency_penalty = static_cast<float>(*x);
  if (auto x = body.number("repetition_penalty", 0, 100, true)) s.repetition_penalty = static_cast<float>(*x);
  if (const json* seed = body.get("seed")) {
    if (!seed->is_number_integer()) body.wrong_type("seed", "an integer", *seed);
    s.seed = seed->is_number_unsigned() ? seed->get<uint64_t>() : static_cast<uint64_t>(seed->get<int64_t>());
  }
  if (const json* bias = body.get("logit_bias")) {
    if (!bias->is_object()) body.wrong_type("logit_bias", "an object of token id -> bias", *bias);
    for (const auto& [key, value] : bias->items()) {
      std::string name = "logit_bias." + key;
      size_t used = 0;
      long long id = -1;
      try {
        id = std::stoll(key, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != key.size()) invalid_field(name, "logit_bias keys must be token ids, got \"{}\"", key);
      token_id(json(id), name, vocab_size);
      if (!value.is_number()) invalid_field(name, "{} must be a number, got {}", name, type_name(value));
      double b = value.get<double>();
      if (!(b >= -100 && b <= 100)) invalid_field(name, "{} must be between -100 and 100, got {}", name, b);
      s.logit_bias[static_cast<int32_t>(id)] = static_cast<float>(b);
    }
  }
}

// Options this server does not implement: refused, rather than silently ignored.
void refuse_unsupported(const Fields& body) {
  if (auto n = body.integer("n", 1, std::numeric_limits<int64_t>::max()); n && *n != 1)
    invalid_field("n", "n: only one choice per request is supported");
  if (auto b = body.integer("best_of", 1, std::numeric_limits<int64_t>::max()); b && *b != 1)
    invalid_field("best_of", "best_of: only 1 is supported");
  if (body.boolean("echo").value_or(false)) invalid_field("echo", "echo is not supported");
  if (body.get("suffix")) invalid_field("suffix", "suffix is not supported");
  if (const json* format = body.get("response_format")) {
    if (!format->is_object() || Fields(*format, "response_format").string("type") != "text")
      invalid_field("response_format", "response_format: only {{\"type\": \"text\"}} is supported");
  }
}

json parse_json(std::string_view body) {
  try {
    return json::parse(body, [](int depth, json::parse_event_t, json&) {
      if (depth > kMaxDepth) throw ApiError(400, fmt::format("the JSON body is nested more than {} levels deep", kMaxDepth));
      return true;
    });
  } catch (const json::exception& e) {
    throw ApiError(400, fmt::format("the body is not valid JSON: {}", e.what()));
  }
}

}  // namespace

ApiRequest parse_request(std::string_view text, Endpoint endpoint, const SamplingParams& defaults, int64_t vocab_size) {
  json root = parse_json(text);
  if (!root.is_object()) throw ApiError(400, fmt::format("the body must be a JSON object, got {}", type_name(root)));
  Fields body(root, "");
  ApiRequest request;
  request.endpoint = endpoint;
  request.sampling = defaults;
  request.model = body.string("model").value_or("");
  if (endpoint == Endpoint::ChatCompletions) {
    request.messages = parse_messages(body);
    parse_tools(body, request);
    if (const json* kwargs = body.get("chat_template_kwargs")) {
      if (!kwargs->is_object()) body.wrong_type("chat_template_kwargs", "an object", *kwargs);
      request.template_kwargs = *kwargs;
    }
  } else {
    parse_prompt(body, request, vocab_size);
  }
  refuse_unsupported(body);

  request.stream = body.boolean("stream").value_or(false);
  if (const json* options = body.get("stream_options")) {
    if (!request.stream) invalid_field("stream_options", "stream_options is only allowed with stream: true");
    if (!options->is_object()) body.wrong_type("stream_options", "an object", *options);
    request.include_usage = Fields(*options, "stream_options").boolean("include_usage").value_or(false);
  }
  constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();
  request.max_tokens = body.integer("max_tokens", 1, kMaxInt);
  if (auto n = body.integer("max_completion_tokens", 1, kMaxInt)) request.max_tokens = n;
  parse_stop(body, request);
  request.ignore_eos = body.boolean("ignore_eos").value_or(false);

  if (endpoint == Endpoint::ChatCompletions) {
    request.logprobs = body.boolean("logprobs").value_or(false);
    if (auto n = body.integer("top_logprobs", 0, kMaxLogprobs)) {
      if (!request.logprobs) invalid_field("top_logprobs", "top_logprobs needs logprobs: true");
      request.top_logprobs = static_cast<int>(*n);
    }
  } else if (auto n = body.integer("logprobs", 0, kMaxLogprobs)) {
    request.logprobs = true;
    request.top_logprobs = static_cast<int>(*n);
  }
  parse_sampling(body, request, vocab_size);
  request.sampling.n_logprobs = request.top_logprobs;
  try {
    request.sampling.validate();
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
  return request;
}

}  // namespace dseek::server
