// Splits a Jinja template into text and tag-content tokens, applying Jinja2's whitespace rules as
// transformers configures them: trim_blocks, lstrip_blocks, `-`/`+` modifiers, raw blocks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dseek::jinja {

enum class TokenKind {
  Text,
  VariableBegin,
  VariableEnd,
  BlockBegin,
  BlockEnd,
  Name,
  String,
  Integer,
  Float,
  Operator,
  End
};

struct Token {
  TokenKind kind;
  // Text: the literal text; Name: the identifier; String: the decoded literal; Operator: its spelling.
  std::string text;
  int64_t integer = 0;
  double number = 0;
  size_t pos = 0;  // byte offset into the normalized source
};

// What Jinja2 does before lexing: newlines become "\n" and one trailing newline is dropped
// (keep_trailing_newline=False). Token positions refer to this normalized text.
std::string normalize_source(std::string_view source);

std::vector<Token> tokenize(std::string_view normalized_source);

}  // namespace dseek::jinja
