// TokenEvents to OpenAI response bodies and SSE chunks.
#include "server/response.h"

#include <gtest/gtest.h>

#include "server_test_util.h"

namespace dseek::server {
namespace {

using json = nlohmann::ordered_json;

TokenEvent token(int32_t id, std::string text, int64_t generated, float logprob = -0.5f) {
  TokenEvent e;
  e.has_token = true;
  e.token = id;
  e.text = std::move(text);
  e.logprob = logprob;
  e.top_logprobs = {{id, logprob}, {25, -2.0f}};
  e.prompt_tokens = 7;
  e.generated_tokens = generated;
  return e;
}

TokenEvent last(FinishReason reason, int64_t generated) {
  TokenEvent e;
  e.finish = reason;
  e.prompt_tokens = 7;
  e.generated_tokens = generated;
  return e;
}

ApiRequest request(Endpoint endpoint, const std::string& body) { return parse_request(body, endpoint, {}, 102400); }

ResponseInfo info(ChatOutputOptions output = {}) { return {"chatcmpl-x", "tiny", 1700000000, 7, output}; }

// The JSON of each "data:" event; checks the framing on the way.
std::vector<json> events(const std::string& sse, bool& done) {
  std::vector<json> out;
  done = false;
  size_t at = 0;
  while (at < sse.size()) {
    size_t end = sse.find("\n\n", at);
    EXPECT_NE(end, std::string::npos) << sse.substr(at);
    if (end == std::string::npos) break;
    std::string event = sse.substr(at, end - at);
    EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
    EXPECT_EQ(event.find('\n'), std::string::npos) << event;
    EXPECT_FALSE(done) << "event after [DONE]";
    if (event == "data: [DONE]") {
      done = true;
    } else {
      out.push_back(json::parse(event.substr(6)));
    }
    at = end + 2;
  }
  return out;
}

TEST(ServerResponse, ChatStreamChunks) {
  ApiRequest r = request(Endpoint::ChatCompletions, R"({"messages": [{"role": "user", "content": "hi"}],
    "stream": true, "stream_options": {"include_usage": true}})");
  ResponseWriter writer(r, testing::chat_tokenizer(), info());
  std::string sse = writer.stream_start();
  sse += writer.stream(token(5726, "User", 1));
  sse += writer.stream(token(25, ":", 2));
  EXPECT_FALSE(writer.finished());
  sse += writer.stream(last(FinishReason::Stop, 2));
  EXPECT_TRUE(writer.finished());
  bool done = false;
  std::vector<json> chunks = events(sse, done);
  EXPECT_TRUE(done);
  ASSERT_EQ(chunks.size(), 5u);
  for (const json& c : chunks) {
    EXPECT_EQ(c["id"], "chatcmpl-x");
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    EXPECT_EQ(c["model"], "tiny");
    EXPECT_TRUE(c.contains("usage"));
  }
  EXPECT_EQ(chunks[0]["choices"][0]["delta"], json({{"role", "assistant"}, {"content", ""}}));
  EXPECT_EQ(chunks[1]["choices"][0]["delta"]["content"], "User");
  EXPECT_EQ(chunks[2]["choices"][0]["delta"]["content"], ":");
  EXPECT_EQ(chunks[3]["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(chunks[3]["choices"][0]["delta"], json::object());
  EXPECT_TRUE(chunks[3]["usage"].is_null());
  EXPECT_TRUE(chunks[4]["choices"].empty());
  EXPECT_EQ(chunks[4]["usage"], json({{"prompt_tokens", 7}, {"completion_tokens", 2}, {"total_tokens", 9}}));
}

TEST(ServerResponse, ChatBodyWithReasoningToolCallsAndLogprobs) {
  ApiRequest r = request(Endpoint::ChatCompletions, R"({"messages": [{"role": "user", "content": "hi"}],
    "logprobs": true, "top_logprobs": 2, "tools": [{"type": "function", "function": {"name": "f"}}]})");
  ChatOutputOptions output{.reasoning = true, .starts_in_reasoning = true, .tools = ToolCallSyntax::DeepSeek};
  ResponseWriter writer(r, testing::chat_tokenizer(), info(output));
  writer.add(token(5726, "plan</think>", 1));
  writer.add(token(25, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{\"a\": 1}<｜tool▁call▁end｜>", 2));
  writer.add(last(FinishReason::Stop, 2));
  json body = writer.body();
  EXPECT_EQ(body["object"], "chat.completion");
  const json& choice = body["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_TRUE(choice["message"]["content"].is_null());
  EXPECT_EQ(choice["message"]["reasoning_content"], "plan");
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u);
  const json& call = choice["message"]["tool_calls"][0];
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(call["function"], json({{"name", "f"}, {"arguments", "{\"a\": 1}"}}));
  const json& logprobs = choice["logprobs"]["content"];
  ASSERT_EQ(logprobs.size(), 2u);
  const Tokenizer& tokenizer = testing::chat_tokenizer();
  uint32_t id = 5726;
  EXPECT_EQ(logprobs[0]["token"], tokenizer.decode(std::span<const uint32_t>(&id, 1)));
  EXPECT_FLOAT_EQ(logprobs[0]["logprob"].get<float>(), -0.5f);
  EXPECT_EQ(logprobs[0]["bytes"], json::array({'U', 's', 'e', 'r'}));
  ASSERT_EQ(logprobs[0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(logprobs[0]["top_logprobs"][1]["token"], ":");
  EXPECT_EQ(body["usage"]["completion_tokens"], 2);
}

TEST(ServerResponse, CompletionBodyAndStream) {
  ApiRequest r = request(Endpoint::Completions, R"({"prompt": "x", "logprobs": 1})");
  ResponseWriter writer(r, testing::chat_tokenizer(), info());
  writer.add(token(5726, "User", 1));
  writer.add(token(25, ":", 2));
  writer.add(last(FinishReason::Length, 2));
  json body = writer.body();
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["choices"][0]["text"], "User:");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  const json& logprobs = body["choices"][0]["logprobs"];
  EXPECT_EQ(logprobs["tokens"], json::array({"User", ":"}));
  EXPECT_EQ(logprobs["text_offset"], json::array({0, 4}));
  EXPECT_EQ(logprobs["token_logprobs"].size(), 2u);
  EXPECT_EQ(logprobs["top_logprobs"][0].size(), 2u);

  ApiRequest s = request(Endpoint::Completions, R"({"prompt": "x", "stream": true})");
  ResponseWriter stream(s, testing::chat_tokenizer(), info());
  std::string sse = stream.stream_start();
  sse += stream.stream(token(5726, "User", 1));
  sse += stream.stream(last(FinishReason::Cancelled, 1));
  bool done = false;
  std::vector<json> chunks = events(sse, done);
  EXPECT_TRUE(done);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0]["choices"][0]["text"], "User");
  EXPECT_TRUE(chunks[0]["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(chunks[1]["choices"][0]["finish_reason"], "abort");
  EXPECT_FALSE(chunks[1].contains("usage"));
}

TEST(ServerResponse, AFailureAfterTheHeadersBecomesAnErrorObject) {
  TokenEvent failed = last(FinishReason::Error, 1);
  failed.error = "every token is banned";
  ApiRequest s = request(Endpoint::ChatCompletions, R"({"messages": [{"role": "user", "content": "hi"}], "stream": true})");
  ResponseWriter stream(s, testing::chat_tokenizer(), info());
  std::string sse = stream.stream_start();
  sse += stream.stream(token(5726, "User", 1));
  sse += stream.stream(failed);
  bool done = false;
  std::vector<json> chunks = events(sse, done);
  EXPECT_TRUE(done);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[1]["choices"][0]["delta"]["content"], "User");
  EXPECT_EQ(chunks[2]["error"]["message"], "every token is banned");
  EXPECT_EQ(chunks[2]["error"]["type"], "server_error");

  ApiRequest r = request(Endpoint::ChatCompletions, R"({"messages": [{"role": "user", "content": "hi"}]})");
  ResponseWriter writer(r, testing::chat_tokenizer(), info());
  writer.add(failed);
  EXPECT_EQ(writer.body()["error"]["message"], "every token is banned");
}

TEST(ServerResponse, InvalidUtf8IsReplacedNotThrown) {
  EXPECT_EQ(json_text(json("a\xff")), "\"a\xef\xbf\xbd\"");
}

}  // namespace
}  // namespace dseek::server
