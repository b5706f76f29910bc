// Splits a chat model's streamed text the way DeepSeek's API reports it: reasoning between
// <think> and </think> goes to reasoning_content, DeepSeek tool-call markup becomes tool_calls,
// the rest is content. Markers can arrive split over any number of pieces.
//
// Tool-call syntaxes, from the models' chat templates:
//   V3, R1:   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>
//   V3.1:     <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>
//   V3.2, V4: <｜DSML｜function_calls> (V4: tool_calls) of <｜DSML｜invoke name="NAME"> blocks holding
//             <｜DSML｜parameter name="K" string="true|false">VALUE</｜DSML｜parameter>
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dseek::server {

enum class ToolCallSyntax { None, DeepSeek, Dsml };

struct ChatOutputOptions {
  bool reasoning = false;            // the template knows <think>: split reasoning out
  bool starts_in_reasoning = false;  // the generation prompt ends inside <think>
  ToolCallSyntax tools = ToolCallSyntax::None;
};

struct ParsedToolCall {
  std::string name;
  std::string arguments;  // JSON text, as the model wrote it (OpenAI's arguments string)
};

struct ChatDelta {
  std::string reasoning;
  std::string content;
  std::vector<ParsedToolCall> tool_calls;

  bool empty() const { return reasoning.empty() && content.empty() && tool_calls.empty(); }
  void append(ChatDelta other);
};

class ChatOutputParser {
 public:
  explicit ChatOutputParser(ChatOutputOptions options);

  // What the new text completes; text that may be the start of a marker waits for more.
  ChatDelta feed(std::string_view text);
  // End of generation: what was held back. An unfinished tool call is returned as content.
  ChatDelta finish();

 private:
  enum class State { Start, Reasoning, Content, ToolCalls, AfterToolCalls };

  void run(ChatDelta& out, bool final);
  bool step(ChatDelta& out, bool final);  // false when it needs more text
  bool start(bool final);
  bool reasoning(ChatDelta& out, bool final);
  bool content(ChatDelta& out, bool final);
  bool tool_calls(ChatDelta& out, bool final);

  ChatOutputOptions options_;
  State state_;
  std::string buffer_;        // text not yet assigned
  std::string tool_section_;  // raw text of the tool-call section, returned as content if it never closes
  std::string close_marker_;  // what ends the current tool-call section
  bool strip_newlines_ = false;  // after </think>, as DeepSeek's API does
  bool calls_done_ = false;      // a tool call of this section was returned
};

// One tool call's text between its begin and end markers (markers excluded); false if malformed.
bool parse_deepseek_tool_call(std::string_view text, ParsedToolCall& call);
// One DSML invoke block (from `<｜DSML｜invoke` to its end marker, excluded); false if malformed.
bool parse_dsml_invoke(std::string_view text, ParsedToolCall& call);

}  // namespace dseek::server
