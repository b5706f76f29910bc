// Reasoning and tool calls split out of generated text, whatever the piece boundaries, and
// checked against what the real chat templates write for an assistant's tool calls.
#include "server/chat_output.h"

#include <cctype>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "chat/chat_template.h"

namespace dseek::server {
namespace {

using json = nlohmann::ordered_json;

// The whole output fed at once.
ChatDelta parse_whole(ChatOutputOptions options, const std::string& text) {
  ChatOutputParser parser(options);
  ChatDelta out = parser.feed(text);
  out.append(parser.finish());
  return out;
}

// Fed in pieces of 1 to 6 bytes, as a stream would be (pieces may split UTF-8: markers are
// matched on bytes).
ChatDelta parse_pieces(ChatOutputOptions options, const std::string& text, unsigned seed) {
  std::mt19937 rng(seed);
  ChatOutputParser parser(options);
  ChatDelta out;
  for (size_t at = 0; at < text.size();) {
    size_t n = std::min<size_t>(1 + rng() % 6, text.size() - at);
    out.append(parser.feed(std::string_view(text).substr(at, n)));
    at += n;
  }
  out.append(parser.finish());
  return out;
}

void expect_same(const ChatDelta& a, const ChatDelta& b, const std::string& context) {
  EXPECT_EQ(a.reasoning, b.reasoning) << context;
  EXPECT_EQ(a.content, b.content) << context;
  ASSERT_EQ(a.tool_calls.size(), b.tool_calls.size()) << context;
  for (size_t i = 0; i < a.tool_calls.size(); ++i) {
    EXPECT_EQ(a.tool_calls[i].name, b.tool_calls[i].name) << context;
    EXPECT_EQ(a.tool_calls[i].arguments, b.tool_calls[i].arguments) << context;
  }
}

// Parses whole and in pieces (several ways) and checks they agree; returns the result.
ChatDelta parse(ChatOutputOptions options, const std::string& text) {
  ChatDelta whole = parse_whole(options, text);
  for (unsigned seed = 0; seed < 20; ++seed) expect_same(whole, parse_pieces(options, text, seed), text);
  return whole;
}

TEST(ServerChatOutput, PlainTextPassesThroughUnchanged) {
  const std::string text = "a < b and <think> is just text here </think> 你好";
  ChatDelta out = parse({}, text);
  EXPECT_EQ(out.content, text);
  EXPECT_EQ(out.reasoning, "");
}

TEST(ServerChatOutput, ReasoningOpenedByTheGenerationPrompt) {
  ChatOutputOptions options{.reasoning = true, .starts_in_reasoning = true};
  ChatDelta out = parse(options, "Let me think <b>.\n</think>\n\nThe answer is 4.\n");
  EXPECT_EQ(out.reasoning, "Let me think <b>.\n");
  EXPECT_EQ(out.content, "The answer is 4.\n");
}

TEST(ServerChatOutput, ReasoningOpenedByTheModel) {
  ChatOutputOptions options{.reasoning = true};
  ChatDelta out = parse(options, "<think>hmm</think>Yes.");
  EXPECT_EQ(out.reasoning, "hmm");
  EXPECT_EQ(out.content, "Yes.");
  EXPECT_EQ(parse(options, "<thin").content, "<thin");  // cut short: shown as it is
  EXPECT_EQ(parse(options, "No thinking <think>").content, "No thinking <think>");
}

TEST(ServerChatOutput, UnfinishedReasoningStaysReasoning) {
  ChatOutputOptions options{.reasoning = true, .starts_in_reasoning = true};
  ChatDelta out = parse(options, "still thinking </thi");
  EXPECT_EQ(out.reasoning, "still thinking </thi");
  EXPECT_EQ(out.content, "");
}

TEST(ServerChatOutput, DeepSeekV3ToolCalls) {
  ChatOutputOptions options{.reasoning = true, .starts_in_reasoning = true, .tools = ToolCallSyntax::DeepSeek};
  std::string text =
      "I need the weather.</think>\n\nLet me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>"
      "get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>"
      "get_time\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  ChatDelta out = parse(options, text);
  EXPECT_EQ(out.reasoning, "I need the weather.");
  EXPECT_EQ(out.content, "Let me check.");
  ASSERT_EQ(out.tool_calls.size(), 2u);
  EXPECT_EQ(out.tool_calls[0].name, "get_weather");
  EXPECT_EQ(out.tool_calls[0].arguments, "{\"city\": \"Paris\"}");
  EXPECT_EQ(out.tool_calls[1].name, "get_time");
  EXPECT_EQ(out.tool_calls[1].arguments, "{}");
}

TEST(ServerChatOutput, DeepSeekV31ToolCalls) {
  ChatOutputOptions options{.tools = ToolCallSyntax::DeepSeek};
  ChatDelta out = parse(options,
                        "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>search<｜tool▁sep｜>{\"q\": \"MLA\"}"
                        "<｜tool▁call▁end｜><｜tool▁calls▁end｜>");
  EXPECT_EQ(out.content, "");
  ASSERT_EQ(out.tool_calls.size(), 1u);
  EXPECT_EQ(out.tool_calls[0].name, "search");
  EXPECT_EQ(out.tool_calls[0].arguments, "{\"q\": \"MLA\"}");
}

TEST(ServerChatOutput, DsmlToolCalls) {
  ChatOutputOptions options{.tools = ToolCallSyntax::Dsml};
  for (std::string block : {"function_calls", "tool_calls"}) {
    std::string text = "Checking.\n\n<｜DSML｜" + block +
                       ">\n<｜DSML｜invoke name=\"get_weather\">\n"
                       "<｜DSML｜parameter name=\"city\" string=\"true\">Paris, \"FR\"</｜DSML｜parameter>\n"
                       "<｜DSML｜parameter name=\"days\" string=\"false\">3</｜DSML｜parameter>\n"
                       "<｜DSML｜parameter name=\"units\" string=\"false\">[\"C\"]</｜DSML｜parameter>\n"
                       "</｜DSML｜invoke>\n</｜DSML｜" + block + ">";
    ChatDelta out = parse(options, text);
    EXPECT_EQ(out.content, "Checking.");
    ASSERT_EQ(out.tool_calls.size(), 1u) << block;
    EXPECT_EQ(out.tool_calls[0].name, "get_weather");
    EXPECT_EQ(json::parse(out.tool_calls[0].arguments), json::parse(R"({"city": "Paris, \"FR\"", "days": 3, "units": ["C"]})"));
  }
}

TEST(ServerChatOutput, ToolMarkupThatNeverClosesIsShownAsContent) {
  ChatOutputOptions options{.tools = ToolCallSyntax::DeepSeek};
  const std::string cut = "Hi<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_wea";
  ChatDelta out = parse(options, cut);
  EXPECT_EQ(out.content, cut);
  EXPECT_TRUE(out.tool_calls.empty());

  const std::string malformed = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>no separator<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  out = parse(options, malformed);
  EXPECT_TRUE(out.tool_calls.empty());
  EXPECT_NE(out.content.find("no separator"), std::string::npos);
}

TEST(ServerChatOutput, WhitespaceBeforeTextIsKeptWhenNoToolCallFollows) {
  ChatOutputOptions options{.tools = ToolCallSyntax::Dsml};
  EXPECT_EQ(parse(options, "line one\n\nline two\n").content, "line one\n\nline two\n");
}

// What a template writes for an assistant turn with tool calls is what the model learned to
// generate: the parser must read it back.
}  // namespace

// For gtest's messages and test names.
void PrintTo(ToolCallSyntax syntax, std::ostream* out) {
  *out << (syntax == ToolCallSyntax::DeepSeek ? "DeepSeek" : syntax == ToolCallSyntax::Dsml ? "DSML" : "none");
}

namespace {

// A fixture template file, its tool-call syntax, and whether it takes arguments as an object.
class ServerChatOutputTemplates : public ::testing::TestWithParam<std::tuple<std::string, ToolCallSyntax, bool>> {};

TEST_P(ServerChatOutputTemplates, ReadsBackTheTemplatesOwnToolCalls) {
  auto [file, syntax, object_arguments] = GetParam();
  std::ifstream in(std::string(DSEEK_FIXTURES) + "/chat-templates/" + file);
  ASSERT_TRUE(in) << file;
  std::stringstream source;
  source << in.rdbuf();
  CompiledChatTemplate tmpl = CompiledChatTemplate::parse(source.str(), file);

  json arguments = {{"city", "Paris"}, {"days", 3}};
  json call = {{"id", "call_1"},
               {"type", "function"},
               {"function", {{"name", "get_weather"}, {"arguments", object_arguments ? arguments : json(arguments.dump())}}}};
  json user = {{"role", "user"}, {"content", "Weather?"}};
  json assistant = {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array({call})}};
  json tool = {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "sunny"}};
  auto render = [&](json messages) {
    return tmpl.render({{"messages", std::move(messages)},
                        {"tools", nullptr},
                        {"add_generation_prompt", false},
                        {"bos_token", "<｜begin▁of▁sentence｜>"},
                        {"eos_token", "<｜end▁of▁sentence｜>"}});
  };
  std::string history = render(json::array({user, assistant, tool}));
  // The assistant's tool calls: from the first marker to the end of its turn or the tool's output.
  size_t begin = std::min(history.find("<｜tool▁calls▁begin｜>"), history.find("<｜DSML｜"));
  ASSERT_NE(begin, std::string::npos) << history;
  size_t end = std::min(history.find("<｜end▁of▁sentence｜>", begin), history.find("<｜tool▁output", begin));
  std::string turn = history.substr(begin, end - begin);
  ASSERT_NE(turn.find("get_weather"), std::string::npos) << turn;

  ChatDelta out = parse({.tools = syntax}, turn);
  ASSERT_EQ(out.tool_calls.size(), 1u) << turn;
  EXPECT_EQ(out.tool_calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(out.tool_calls[0].arguments), arguments) << turn;
  EXPECT_EQ(out.content.find_first_not_of(" \n"), std::string::npos) << "content: " << out.content;
}

INSTANTIATE_TEST_SUITE_P(
    ServerFixtureTemplates, ServerChatOutputTemplates,
    ::testing::Values(std::make_tuple("deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", ToolCallSyntax::DeepSeek, false),
                      std::make_tuple("deepseek-ai-DeepSeek-V3.1.jinja", ToolCallSyntax::DeepSeek, true),
                      std::make_tuple("deepseek-ai-DeepSeek-V3.2.jinja", ToolCallSyntax::Dsml, false),
                      std::make_tuple("deepseek-ai-DeepSeek-V4.jinja", ToolCallSyntax::Dsml, false)),
    [](const auto& info) {
      std::string name = std::get<0>(info.param).substr(std::string("deepseek-ai-DeepSeek-").size());
      name = name.substr(0, name.find(".jinja"));
      for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return name;
    });

}  // namespace
}  // namespace dseek::server
