// Chat requests rendered with the model's template, and what the rendered prompt says about
// the reply (reasoning opened, tool-call syntax).
#include "server/chat_prompt.h"

#include <gtest/gtest.h>

#include "server/api_error.h"
#include "server_test_util.h"

namespace dseek::server {
namespace {

using json = nlohmann::ordered_json;

ApiRequest chat_request(const std::string& body) {
  return parse_request(body, Endpoint::ChatCompletions, {}, 102400);
}

TEST(ServerChatPrompt, RendersTheFixturePromptsAndTheirTokens) {
  const Tokenizer& tokenizer = testing::chat_tokenizer();
  ChatPrompts prompts(tokenizer.config(), "");
  json e2e = json::parse(testing::read_file(testing::chat_model_dir() + "/e2e.json"));
  int cases = 0;
  for (const json& c : e2e["cases"]) {
    if (c["kind"] != "chat") continue;
    ApiRequest request = chat_request(json{{"messages", c["messages"]}}.dump());
    ChatPrompts::Rendered rendered = prompts.render(request);
    EXPECT_EQ(rendered.text, c["prompt"]);
    std::vector<uint32_t> ids = tokenizer.encode(rendered.text);
    EXPECT_EQ(json(ids), c["prompt_ids"]);
    EXPECT_FALSE(rendered.output.reasoning);  // V2-Lite-Chat knows no <think>
    EXPECT_EQ(rendered.output.tools, ToolCallSyntax::None);
    ++cases;
  }
  EXPECT_EQ(cases, 3);
}

TEST(ServerChatPrompt, R1OpensReasoningAndUsesDeepSeekToolCalls) {
  ChatPrompts prompts(testing::chat_tokenizer().config(),
                      testing::fixture_template("deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja"));
  ChatPrompts::Rendered plain = prompts.render(chat_request(R"({"messages": [{"role": "user", "content": "hi"}]})"));
  EXPECT_TRUE(plain.text.ends_with("<｜Assistant｜><think>\n"));
  EXPECT_TRUE(plain.output.reasoning);
  EXPECT_TRUE(plain.output.starts_in_reasoning);
  EXPECT_EQ(plain.output.tools, ToolCallSyntax::None);  // no tools in the request

  ChatPrompts::Rendered tools = prompts.render(chat_request(
      R"({"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f"}}]})"));
  EXPECT_EQ(tools.output.tools, ToolCallSyntax::DeepSeek);
}

TEST(ServerChatPrompt, V32RendersToolsAndFollowsTheThinkingSwitch) {
  ChatPrompts prompts(testing::chat_tokenizer().config(), testing::fixture_template("deepseek-ai-DeepSeek-V3.2.jinja"));
  const std::string tools =
      R"("tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}])";
  ChatPrompts::Rendered off = prompts.render(chat_request(
      R"({"messages": [{"role": "user", "content": "hi"}], )" + tools + "}"));
  EXPECT_NE(off.text.find("\"name\": \"get_weather\""), std::string::npos) << off.text;
  EXPECT_TRUE(off.text.ends_with("<think></think>"));
  EXPECT_TRUE(off.output.reasoning);
  EXPECT_FALSE(off.output.starts_in_reasoning);
  EXPECT_EQ(off.output.tools, ToolCallSyntax::Dsml);

  ChatPrompts::Rendered on = prompts.render(chat_request(
      R"({"messages": [{"role": "user", "content": "hi"}], "chat_template_kwargs": {"thinking": true}})"));
  EXPECT_TRUE(on.text.ends_with("<think>"));
  EXPECT_TRUE(on.output.starts_in_reasoning);
}

TEST(ServerChatPrompt, V31GetsToolCallArgumentsAsAnObject) {
  ChatPrompts prompts(testing::chat_tokenizer().config(), testing::fixture_template("deepseek-ai-DeepSeek-V3.1.jinja"));
  ChatPrompts::Rendered rendered = prompts.render(chat_request(R"({"messages": [
      {"role": "user", "content": "weather?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "tool_call_id": "c", "content": "sunny"}]})"));
  EXPECT_NE(rendered.text.find("get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}<｜tool▁call▁end｜>"), std::string::npos)
      << rendered.text;
}

TEST(ServerChatPrompt, TemplateFailuresAndMissingTemplatesAre400) {
  ChatPrompts raising(testing::chat_tokenizer().config(), "{{ raise_exception('roles must alternate') }}");
  try {
    raising.render(chat_request(R"({"messages": [{"role": "user", "content": "hi"}]})"));
    FAIL() << "rendered";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.param(), "messages");
    EXPECT_NE(std::string(e.what()).find("roles must alternate"), std::string::npos) << e.what();
  }
  ChatPrompts none(TokenizerConfig{}, "");
  EXPECT_TRUE(none.empty());
  EXPECT_THROW(none.render(chat_request(R"({"messages": [{"role": "user", "content": "hi"}]})")), ApiError);
}

}  // namespace
}  // namespace dseek::server
