#include "chat/chat_template.h"

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "util/error.h"

namespace dseek {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

const fs::path kTemplates = fs::path(DSEEK_FIXTURES) / "chat-templates";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The fixtures' clock: 2026-01-02 03:04:05, with weekday and day of year filled in.
std::tm fixture_time() {
  std::tm t{};
  t.tm_year = 2026 - 1900;
  t.tm_mon = 0;
  t.tm_mday = 2;
  t.tm_hour = 3;
  t.tm_min = 4;
  t.tm_sec = 5;
  std::time_t seconds = timegm(&t);
  std::tm normalized{};
  gmtime_r(&seconds, &normalized);
  return normalized;
}

TEST(ChatTemplateFixtures, EveryCaseRendersByteExactly) {
  Json cases = Json::parse(read_file(kTemplates / "cases.json"))["cases"];
  ASSERT_GE(cases.size(), 30u);
  std::map<std::string, CompiledChatTemplate> templates;
  for (const Json& c : cases) {
    std::string file = c["template"].get<std::string>();
    SCOPED_TRACE(file + " / " + c["case"].get<std::string>());
    auto it = templates.find(file);
    if (it == templates.end()) {
      it = templates.emplace(file, CompiledChatTemplate::parse(read_file(kTemplates / file), file)).first;
      it->second.set_clock(fixture_time);
    }
    EXPECT_EQ(it->second.render(c["context"]), c["expected"].get<std::string>());
  }
}

TEST(ChatTemplateFixtures, ModelDirectoryPromptsMatchEndToEndReference) {
  fs::path dir = fs::path(DSEEK_FIXTURES) / "models" / "v2-chat-tiny";
  TokenizerConfig config = TokenizerConfig::load(dir);
  const ChatTemplate& source = select_chat_template(config, "", false);
  CompiledChatTemplate chat_template = CompiledChatTemplate::parse(source.source, source.name);
  Json e2e = Json::parse(read_file(dir / "e2e.json"));
  int checked = 0;
  for (const Json& c : e2e["cases"]) {
    if (c["kind"] != "chat") continue;
    ChatRequest request;
    request.messages = c["messages"];
    request.add_generation_prompt = true;
    EXPECT_EQ(chat_template.render(build_chat_context(request, config)), c["prompt"].get<std::string>());
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(ChatTemplate, SelectsTemplatesLikeTransformers) {
  TokenizerConfig config;
  config.chat_templates = {{"default", "D"}, {"tool_use", "T"}, {"rag", "R"}};
  EXPECT_EQ(select_chat_template(config, "", false).source, "D");
  EXPECT_EQ(select_chat_template(config, "", true).source, "T");
  EXPECT_EQ(select_chat_template(config, "rag", true).source, "R");
  EXPECT_THROW(select_chat_template(config, "missing", false), Error);
  config.chat_templates = {{"rag", "R"}};
  EXPECT_THROW(select_chat_template(config, "", false), Error);
  config.chat_templates.clear();
  EXPECT_THROW(select_chat_template(config, "", false), Error);
}

TEST(ChatTemplate, ContextHasTransformersVariables) {
  TokenizerConfig config;
  config.bos_token = "<s>";
  config.eos_token = "</s>";
  ChatRequest request;
  request.messages = Json::array({{{"role", "user"}, {"content", "hi"}}});
  request.extra = {{"thinking", true}, {"bos_token", "<B>"}};
  Json context = build_chat_context(request, config);
  EXPECT_TRUE(context["tools"].is_null());
  EXPECT_EQ(context["add_generation_prompt"], false);
  EXPECT_EQ(context["eos_token"], "</s>");
  EXPECT_EQ(context["bos_token"], "<B>");  // extra variables win
  EXPECT_EQ(context["thinking"], true);
  EXPECT_FALSE(context.contains("unk_token"));
  request.tools = Json::array();
  EXPECT_TRUE(build_chat_context(request, config)["tools"].is_array());
}

TEST(ChatTemplate, StrftimeNowReadsTheInjectedClock) {
  auto t = CompiledChatTemplate::parse("{{ strftime_now('%Y-%m-%d %H:%M:%S %a %d %b') }}", "clock");
  t.set_clock(fixture_time);
  EXPECT_EQ(t.render(Json::object()), "2026-01-02 03:04:05 Fri 02 Jan");
}

TEST(ChatTemplate, RaiseExceptionReportsMessageAndPlace) {
  auto t = CompiledChatTemplate::parse(
      "{% for m in messages %}\n{% if m.role not in ['user', 'assistant'] %}"
      "{{ raise_exception('Unsupported role: ' + m.role) }}{% endif %}{% endfor %}",
      "roles");
  try {
    t.render(Json{{"messages", Json::array({{{"role", "tool"}}})}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "template 'roles', line 2, column 48: Unsupported role: tool");
  }
}

struct CommandResult {
  int status;
  std::string output;
};

CommandResult run_command(const std::string& command) {
  CommandResult result{-1, {}};
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  result.status = pclose(pipe);
  return result;
}

class ChatTemplateCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dseek_chat_cli_" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& text) {
    std::ofstream out(dir_ / name, std::ios::binary);
    out << text;
  }

  std::string command(const std::string& args) {
    return std::string(DSEEK_BINARY) + " chat-template " + args + " 2>&1";
  }

  fs::path dir_;
};

TEST_F(ChatTemplateCli, PrintsTheFixturePromptsExactly) {
  Json cases = Json::parse(read_file(kTemplates / "cases.json"))["cases"];
  int checked = 0;
  for (const Json& c : cases) {
    const Json& context = c["context"];
    // Cases whose context is exactly what the command builds from its flags.
    bool plain =
        context.size() == 4 || (context.size() == 5 && (context.contains("tools") || context.contains("thinking")));
    if (!plain || c["template"].get<std::string>().find("V3") == std::string::npos) continue;
    SCOPED_TRACE(c["template"].get<std::string>() + " / " + c["case"].get<std::string>());
    Json config = {{"bos_token", {{"__type", "AddedToken"}, {"content", context["bos_token"]}}},
                   {"eos_token", context["eos_token"]},
                   {"chat_template", read_file(kTemplates / c["template"].get<std::string>())}};
    write("tokenizer_config.json", config.dump());
    write("messages.json", context["messages"].dump());
    std::string args = (dir_.string() + " --messages " + (dir_ / "messages.json").string());
    if (context["add_generation_prompt"] == true) args += " --add-generation-prompt";
    if (context.contains("tools")) {
      write("tools.json", context["tools"].dump());
      args += " --tools " + (dir_ / "tools.json").string();
    }
    if (context.contains("thinking")) args += " --var thinking=" + context["thinking"].dump();
    CommandResult result = run_command(command(args));
    EXPECT_EQ(result.status, 0) << result.output;
    EXPECT_EQ(result.output, c["expected"].get<std::string>());
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

TEST_F(ChatTemplateCli, NamedTemplatesVarsAndErrors) {
  Json config = {{"chat_template", Json::array({{{"name", "default"}, {"template", "D{{ x }}"}},
                                                {{"name", "other"}, {"template", "O{{ x }}|{{ y }}"}},
                                                {{"name", "broken"}, {"template", "{% if %}"}}})}};
  write("tokenizer_config.json", config.dump());
  write("messages.json", R"({"messages": []})");
  std::string base = dir_.string() + " --messages " + (dir_ / "messages.json").string();
  EXPECT_EQ(run_command(command(base + " --var x=1")).output, "D1");
  EXPECT_EQ(run_command(command(base + " --template other --var 'x=\"a\"' --var y=[1]")).output, "Oa|[1]");
  EXPECT_EQ(run_command(command(base + " --template other --var x=2 'y={\"k\": null}'")).output, "O2|{'k': None}");
  CommandResult bad_var = run_command(command(base + " --var x=unquoted"));
  EXPECT_NE(bad_var.status, 0);
  EXPECT_NE(bad_var.output.find("--var x=unquoted"), std::string::npos) << bad_var.output;
  CommandResult broken = run_command(command(base + " --template broken"));
  EXPECT_NE(broken.status, 0);
  EXPECT_NE(broken.output.find("template 'broken', line 1, column 7"), std::string::npos) << broken.output;
}

}  // namespace
}  // namespace dseek
