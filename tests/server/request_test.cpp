// Request bodies to GenerationRequest fields, and every invalid field named in its 400.
#include "server/request.h"

#include <random>

#include <gtest/gtest.h>

#include "server/api_error.h"

namespace dseek::server {
namespace {

constexpr int64_t kVocab = 1000;

ApiRequest chat(const std::string& body, const SamplingParams& defaults = {}) {
  return parse_request(body, Endpoint::ChatCompletions, defaults, kVocab);
}

ApiRequest completion(const std::string& body) { return parse_request(body, Endpoint::Completions, {}, kVocab); }

// The field a 400 names ("" when none), or "accepted".
std::string refused_field(const std::string& body, Endpoint endpoint) {
  try {
    parse_request(body, endpoint, {}, kVocab);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400) << body;
    EXPECT_NE(std::string(e.what()), "") << body;
    return e.param();
  }
  return "accepted";
}

TEST(ServerRequest, ReadsEveryChatField) {
  ApiRequest r = chat(R"({
    "model": "m", "messages": [
      {"role": "system", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
      {"role": "assistant", "content": null,
       "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "42"}],
    "temperature": 0.5, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "presence_penalty": 0.5,
    "frequency_penalty": -0.5, "repetition_penalty": 1.1, "seed": 7, "logit_bias": {"12": -100},
    "max_tokens": 10, "max_completion_tokens": 20, "stop": "###", "stream": true,
    "stream_options": {"include_usage": true}, "logprobs": true, "top_logprobs": 3,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "tool_choice": "auto", "chat_template_kwargs": {"thinking": true}, "ignore_eos": true,
    "user": "ignored", "n": 1})");
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[1]["content"], "a\nb");
  EXPECT_TRUE(r.messages[2]["content"].is_null());
  EXPECT_EQ(r.messages[3]["tool_call_id"], "c1");
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.9f);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(r.sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(r.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.frequency_penalty, -0.5f);
  EXPECT_FLOAT_EQ(r.sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(r.sampling.seed, 7u);
  EXPECT_FLOAT_EQ(r.sampling.logit_bias.at(12), -100.0f);
  EXPECT_EQ(r.max_tokens, 20);  // max_completion_tokens wins
  EXPECT_EQ(r.stop, std::vector<std::string>{"###"});
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 3);
  EXPECT_EQ(r.sampling.n_logprobs, 3);
  ASSERT_TRUE(r.tools.has_value());
  EXPECT_TRUE(r.parse_tool_calls());
  EXPECT_EQ(r.template_kwargs["thinking"], true);
  EXPECT_TRUE(r.ignore_eos);
}

TEST(ServerRequest, AbsentAndNullFieldsKeepTheModelDefaults) {
  SamplingParams defaults;
  defaults.temperature = 0.6f;
  defaults.top_p = 0.95f;
  ApiRequest r = chat(R"({"messages": [{"role": "user", "content": "hi"}], "temperature": null})", defaults);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.6f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.95f);
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.tools.has_value());
  EXPECT_FALSE(r.parse_tool_calls());
}

TEST(ServerRequest, ToolChoiceNoneKeepsToolsForTheTemplateButParsesNoCalls) {
  ApiRequest r = chat(R"({"messages": [{"role": "user", "content": "hi"}], "tool_choice": "none",
    "tools": [{"type": "function", "function": {"name": "f"}}]})");
  EXPECT_TRUE(r.tools.has_value());
  EXPECT_FALSE(r.parse_tool_calls());
}

TEST(ServerRequest, CompletionPromptForms) {
  EXPECT_EQ(completion(R"({"prompt": "hello"})").prompt_text, "hello");
  EXPECT_EQ(completion(R"({"prompt": ["hello"]})").prompt_text, "hello");
  EXPECT_EQ(completion(R"({"prompt": [1, 2, 999]})").prompt_tokens, (std::vector<int32_t>{1, 2, 999}));
  EXPECT_EQ(completion(R"({"prompt": [[5, 6]]})").prompt_tokens, (std::vector<int32_t>{5, 6}));
  ApiRequest r = completion(R"({"prompt": "x", "logprobs": 2})");
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 2);
}

TEST(ServerRequest, InvalidFieldsAreNamed) {
  const std::string user = R"("messages": [{"role": "user", "content": "hi"}])";
  const std::vector<std::pair<std::string, std::string>> chat_cases = {
      {R"({})", "messages"},
      {R"({"messages": "hi"})", "messages"},
      {R"({"messages": []})", "messages"},
      {R"({"messages": [1]})", "messages[0]"},
      {R"({"messages": [{"content": "hi"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "wizard", "content": "hi"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "user"}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", "messages[0].content[0].type"},
      {R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})", "messages[0].content[0].text"},
      {R"({"messages": [{"role": "tool", "content": "x"}]})", "messages[0].tool_call_id"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]}]})",
       "messages[0].tool_calls[0].function.arguments"},
      {"{" + user + R"(, "model": 3})", "model"},
      {"{" + user + R"(, "temperature": "hot"})", "temperature"},
      {"{" + user + R"(, "temperature": 2.5})", "temperature"},
      {"{" + user + R"(, "top_p": 0})", "top_p"},
      {"{" + user + R"(, "top_k": -2})", "top_k"},
      {"{" + user + R"(, "min_p": 1.5})", "min_p"},
      {"{" + user + R"(, "presence_penalty": 3})", "presence_penalty"},
      {"{" + user + R"(, "frequency_penalty": -3})", "frequency_penalty"},
      {"{" + user + R"(, "repetition_penalty": 0})", "repetition_penalty"},
      {"{" + user + R"(, "seed": 1.5})", "seed"},
      {"{" + user + R"(, "max_tokens": 0})", "max_tokens"},
      {"{" + user + R"(, "max_tokens": 2.5})", "max_tokens"},
      {"{" + user + R"(, "max_completion_tokens": -1})", "max_completion_tokens"},
      {"{" + user + R"(, "max_tokens": 99999999999999999999})", "max_tokens"},
      {"{" + user + R"(, "stop": 3})", "stop"},
      {"{" + user + R"(, "stop": ["a", 1]})", "stop"},
      {"{" + user + R"(, "stop": [""]})", "stop"},
      {"{" + user + R"(, "stream": "yes"})", "stream"},
      {"{" + user + R"(, "stream_options": {"include_usage": true}})", "stream_options"},
      {"{" + user + R"(, "stream": true, "stream_options": {"include_usage": 1}})", "stream_options.include_usage"},
      {"{" + user + R"(, "logprobs": 1})", "logprobs"},
      {"{" + user + R"(, "logprobs": true, "top_logprobs": 21})", "top_logprobs"},
      {"{" + user + R"(, "top_logprobs": 2})", "top_logprobs"},
      {"{" + user + R"(, "logit_bias": {"abc": 1}})", "logit_bias.abc"},
      {"{" + user + R"(, "logit_bias": {"1000": 1}})", "logit_bias.1000"},
      {"{" + user + R"(, "logit_bias": {"5": 101}})", "logit_bias.5"},
      {"{" + user + R"(, "n": 2})", "n"},
      {"{" + user + R"(, "response_format": {"type": "json_object"}})", "response_format"},
      {"{" + user + R"(, "tools": {}})", "tools"},
      {"{" + user + R"(, "tools": [{"type": "function"}]})", "tools[0].function"},
      {"{" + user + R"(, "tools": [{"type": "retrieval", "function": {"name": "f"}}]})", "tools[0].type"},
      {"{" + user + R"(, "tools": [{"type": "function", "function": {"name": ""}}]})", "tools[0].function.name"},
      {"{" + user + R"(, "tools": [{"type": "function", "function": {"name": "f", "parameters": 1}}]})",
       "tools[0].function.parameters"},
      {"{" + user + R"(, "tool_choice": "auto"})", "tool_choice"},
      {"{" + user + R"(, "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "always"})",
       "tool_choice"},
      {"{" + user + R"(, "tools": [{"type": "function", "function": {"name": "f"}}],
         "tool_choice": {"type": "function", "function": {"name": "g"}}})", "tool_choice"},
      {"{" + user + R"(, "chat_template_kwargs": []})", "chat_template_kwargs"},
      {"{" + user + R"(, "ignore_eos": 1})", "ignore_eos"},
  };
  for (const auto& [body, field] : chat_cases) EXPECT_EQ(refused_field(body, Endpoint::ChatCompletions), field) << body;

  const std::vector<std::pair<std::string, std::string>> completion_cases = {
      {R"({})", "prompt"},
      {R"({"prompt": 5})", "prompt"},
      {R"({"prompt": []})", "prompt"},
      {R"({"prompt": [1, -1]})", "prompt[1]"},
      {R"({"prompt": [1, 1000]})", "prompt[1]"},
      {R"({"prompt": [1, "a"]})", "prompt[1]"},
      {R"({"prompt": ["a", "b"]})", "prompt"},
      {R"({"prompt": "x", "logprobs": true})", "logprobs"},
      {R"({"prompt": "x", "logprobs": 21})", "logprobs"},
      {R"({"prompt": "x", "echo": true})", "echo"},
      {R"({"prompt": "x", "suffix": "y"})", "suffix"},
      {R"({"prompt": "x", "best_of": 2})", "best_of"},
  };
  for (const auto& [body, field] : completion_cases) EXPECT_EQ(refused_field(body, Endpoint::Completions), field) << body;
}

TEST(ServerRequest, BodiesThatAreNotJsonObjectsAreRefused) {
  for (const std::string body : {"", "{", "nul", "[1]", "\"text\"", "{\"messages\": [}", "{\"a\": \"\xff\"}"})
    EXPECT_EQ(refused_field(body, Endpoint::ChatCompletions), "") << body;
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(refused_field(deep, Endpoint::ChatCompletions), "");
  EXPECT_EQ(refused_field("{\"messages\": " + deep + "}", Endpoint::ChatCompletions), "");
}

// Any byte string is either a request or an ApiError: never another exception, never a crash.
TEST(ServerRequest, MutatedBodiesAreAcceptedOrRefusedCleanly) {
  const std::string valid = R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    "temperature": 0.7, "stop": ["a"], "max_tokens": 5, "logit_bias": {"3": 1}, "stream": true,
    "stream_options": {"include_usage": true}, "tools": [{"type": "function", "function": {"name": "f"}}],
    "tool_choice": {"type": "function", "function": {"name": "f"}}, "logprobs": true, "top_logprobs": 2})";
  ASSERT_EQ(refused_field(valid, Endpoint::ChatCompletions), "accepted");
  std::mt19937 rng(1234);
  const std::string alphabet = "{}[]\":,0123456789.-eE truefalsn\\\xc3\xa9\xff";
  int accepted = 0;
  for (int trial = 0; trial < 5000; ++trial) {
    std::string body = valid;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t at = rng() % body.size();
      char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0: body[at] = c; break;
        case 1: body.insert(body.begin() + static_cast<std::ptrdiff_t>(at), c); break;
        default: body.erase(at, 1 + rng() % 8); break;
      }
    }
    for (Endpoint endpoint : {Endpoint::ChatCompletions, Endpoint::Completions}) {
      try {
        parse_request(body, endpoint, {}, kVocab);
        ++accepted;
      } catch (const ApiError& e) {
        EXPECT_EQ(e.status(), 400);
      }
    }
  }
  EXPECT_GT(accepted, 0);  // some edits (inside strings, digits) leave a valid request
}

TEST(ServerRequest, ErrorBodyHasOpenAiShape) {
  auto body = error_body(ApiError(400, "temperature must be <= 2", "temperature"));
  EXPECT_EQ(body["error"]["message"], "temperature must be <= 2");
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_EQ(body["error"]["param"], "temperature");
  EXPECT_TRUE(body["error"]["code"].is_null());
  auto server = error_body(ApiError(500, "boom"));
  EXPECT_EQ(server["error"]["type"], "server_error");
  EXPECT_TRUE(server["error"]["param"].is_null());
}

}  // namespace
}  // namespace dseek::server
