#include "chat/jinja_lexer.h"

#include <array>
#include <cerrno>
#include <cstdlib>

#include "chat/jinja_error.h"
#include "chat/py_string.h"
#include "tokenizer/utf8.h"

namespace dseek::jinja {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Longest first, so that "**" wins over "*".
constexpr std::array<std::string_view, 26> kOperators = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "/",
                                                         "*",  "%",  "~",  "[",  "]",  "(",  ")", "{", "}",
                                                         "<",  ">",  "=",  ".",  ":",  "|",  ",", ";"};

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      size_t tag = find_tag(pos_);
      if (tag == std::string_view::npos) {
        emit_text(src_.substr(pos_), pos_);
        break;
      }
      char kind = src_[tag + 1];
      size_t after = tag + 2;
      char sign = 0;
      if (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) sign = src_[after++];
      size_t raw_body = 0;
      bool raw = kind == '%' && match_raw_begin(after, raw_body);
      emit_text(strip_before(src_.substr(pos_, tag - pos_), sign, kind != '{'), pos_);
      if (raw) {
        lex_raw(tag, raw_body);
      } else if (kind == '#') {
        lex_comment(tag, after);
      } else {
        lex_tag(kind, tag, after);
      }
    }
    tokens_.push_back(Token{TokenKind::End, {}, 0, 0, src_.size()});
    return std::move(tokens_);
  }

 private:
  std::string_view src_;
  size_t pos_ = 0;
  // Whether the last tag's closing match ended with a newline: lstrip_blocks then also applies to
  // a tag at the very start of the following text.
  bool line_starting_ = true;
  std::vector<Token> tokens_;

  size_t find_tag(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string_view::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string_view::npos;
  }

  void emit_text(std::string_view text, size_t pos) {
    if (!text.empty()) tokens_.push_back(Token{TokenKind::Text, std::string(text), 0, 0, pos});
  }

  // The text before a tag loses trailing whitespace to a `-` sign, or to lstrip_blocks when only
  // spaces separate a block or comment tag from the start of its line.
  std::string_view strip_before(std::string_view text, char sign, bool lstrip) const {
    if (sign == '-') {
      size_t end = text.size();
      while (end > 0 && is_space(text[end - 1])) --end;
      return text.substr(0, end);
    }
    if (sign == '+' || !lstrip) return text;
    size_t line = text.rfind('\n');
    line = line == std::string_view::npos ? 0 : line + 1;
    if ((line > 0 || line_starting_) && line < text.size()) {
      for (size_t i = line; i < text.size(); ++i) {
        if (!is_space(text[i])) return text;
      }
      return text.substr(0, line);
    }
    return text;
  }

  size_t skip_spaces(size_t p) const {
    while (p < src_.size() && is_space(src_[p])) ++p;
    return p;
  }

  bool starts_with(size_t p, std::string_view s) const { return src_.substr(p, s.size()) == s; }

  // Consumes a block tag's closing `%}` at p (with its `-`/`+` modifier), returning the position
  // after it, or npos when p is not at a closing tag.
  size_t match_block_end(size_t p) const {
    if (starts_with(p, "+%}")) return p + 3;
    if (starts_with(p, "-%}")) return skip_spaces(p + 3);
    if (starts_with(p, "%}")) return p + 2 < src_.size() && src_[p + 2] == '\n' ? p + 3 : p + 2;
    return std::string_view::npos;
  }

  void finish_tag(size_t end) {
    line_starting_ = end > 0 && src_[end - 1] == '\n';
    pos_ = end;
  }

  // `{% raw %}` (a `-` before `%}` strips the whitespace that follows; trim_blocks does not apply).
  bool match_raw_begin(size_t p, size_t& body) const {
    p = skip_spaces(p);
    if (!starts_with(p, "raw")) return false;
    p = skip_spaces(p + 3);
    if (starts_with(p, "-%}")) {
      body = skip_spaces(p + 3);
      return true;
    }
    if (starts_with(p, "%}")) {
      body = p + 2;
      return true;
    }
    return false;
  }

  void lex_raw(size_t tag, size_t body) {
    line_starting_ = body > 0 && src_[body - 1] == '\n';
    for (size_t p = src_.find("{%", body); p != std::string_view::npos; p = src_.find("{%", p + 1)) {
      size_t q = p + 2;
      char sign = 0;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) sign = src_[q++];
      q = skip_spaces(q);
      if (!starts_with(q, "endraw")) continue;
      size_t end = match_block_end(skip_spaces(q + 6));
      if (end == std::string_view::npos) continue;
      emit_text(strip_before(src_.substr(body, p - body), sign, true), body);
      finish_tag(end);
      return;
    }
    fail_at(tag, "missing end of raw directive");
  }

  void lex_comment(size_t tag, size_t after) {
    size_t close = src_.find("#}", after);
    if (close == std::string_view::npos) {
      // Jinja2 quietly drops a comment opener that ends the template.
      if (after == src_.size()) return finish_tag(after);
      fail_at(tag, "missing end of comment tag");
    }
    size_t end = close + 2;
    char sign = close > after ? src_[close - 1] : 0;
    if (sign == '-') {
      end = skip_spaces(end);
    } else if (sign != '+' && end < src_.size() && src_[end] == '\n') {
      ++end;
    }
    finish_tag(end);
  }

  void lex_tag(char kind, size_t tag, size_t after) {
    bool variable = kind == '{';
    tokens_.push_back(Token{variable ? TokenKind::VariableBegin : TokenKind::BlockBegin, {}, 0, 0, tag});
    std::vector<char> brackets;
    size_t p = after;
    while (true) {
      p = skip_spaces(p);
      if (p >= src_.size()) fail_at(tag, "unexpected end of template, missing '{}'", variable ? "}}" : "%}");
      if (brackets.empty()) {
        size_t end = std::string_view::npos;
        if (variable) {
          if (starts_with(p, "-}}"))
            end = skip_spaces(p + 3);
          else if (starts_with(p, "}}"))
            end = p + 2;
        } else {
          end = match_block_end(p);
        }
        if (end != std::string_view::npos) {
          tokens_.push_back(Token{variable ? TokenKind::VariableEnd : TokenKind::BlockEnd, {}, 0, 0, p});
          finish_tag(end);
          return;
        }
      }
      p = lex_token(p, brackets);
    }
  }

  size_t lex_token(size_t p, std::vector<char>& brackets) {
    char c = src_[p];
    if (c == '\'' || c == '"') return lex_string(p);
    if (is_digit(c)) return lex_number(p);
    if (is_name_start(c)) {
      size_t end = p;
      while (end < src_.size() && is_name_char(src_[end])) ++end;
      tokens_.push_back(Token{TokenKind::Name, std::string(src_.substr(p, end - p)), 0, 0, p});
      return end;
    }
    for (std::string_view op : kOperators) {
      if (!starts_with(p, op)) continue;
      if (op == "(" || op == "[" || op == "{") {
        brackets.push_back(op == "(" ? ')' : op == "[" ? ']' : '}');
      } else if (op == ")" || op == "]" || op == "}") {
        if (brackets.empty()) fail_at(p, "unexpected '{}'", op);
        if (brackets.back() != op[0]) fail_at(p, "unexpected '{}', expected '{}'", op, brackets.back());
        brackets.pop_back();
      }
      tokens_.push_back(Token{TokenKind::Operator, std::string(op), 0, 0, p});
      return p + op.size();
    }
    size_t next = p;
    pystr::decode(src_, next);
    fail_at(p, "unexpected character '{}'", src_.substr(p, next - p));
  }

  // Python string literal escapes, as Jinja2 decodes them ("unicode-escape").
  size_t lex_string(size_t start) {
    char quote = src_[start];
    std::string value;
    size_t p = start + 1;
    while (true) {
      if (p >= src_.size()) fail_at(start, "unterminated string literal");
      char c = src_[p];
      if (c == quote) break;
      if (c != '\\') {
        value += c;
        ++p;
        continue;
      }
      if (p + 1 >= src_.size()) fail_at(start, "unterminated string literal");
      char e = src_[p + 1];
      p += 2;
      switch (e) {
        case '\n': break;
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case 'a': value += '\a'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'n': value += '\n'; break;
        case 'r': value += '\r'; break;
        case 't': value += '\t'; break;
        case 'v': value += '\v'; break;
        case 'x':
        case 'u':
        case 'U': {
          size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          char32_t cp = 0;
          for (size_t k = 0; k < digits; ++k) {
            int h = p + k < src_.size() ? hex_value(src_[p + k]) : -1;
            if (h < 0) fail_at(p - 2, "truncated \\{} escape in string literal", e);
            cp = cp * 16 + static_cast<char32_t>(h);
          }
          p += digits;
          if (cp > 0x10FFFF) fail_at(p - digits - 2, "illegal Unicode character in string literal");
          // A surrogate pair written as two \u escapes is one character.
          if (cp >= 0xD800 && cp < 0xDC00 && starts_with(p, "\\u")) {
            char32_t low = 0;
            bool ok = true;
            for (size_t k = 0; k < 4; ++k) {
              int h = p + 2 + k < src_.size() ? hex_value(src_[p + 2 + k]) : -1;
              ok = ok && h >= 0;
              low = low * 16 + static_cast<char32_t>(h < 0 ? 0 : h);
            }
            if (ok && low >= 0xDC00 && low < 0xE000) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
              p += 6;
            }
          }
          utf8::append(value, cp >= 0xD800 && cp < 0xE000 ? 0xFFFD : cp);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            char32_t cp = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && p < src_.size() && src_[p] >= '0' && src_[p] <= '7'; ++k)
              cp = cp * 8 + (src_[p++] - '0');
            utf8::append(value, cp);
          } else {
            // Python keeps unknown escapes as written.
            value += '\\';
            value += e;
          }
      }
    }
    tokens_.push_back(Token{TokenKind::String, std::move(value), 0, 0, start});
    return p + 1;
  }

  size_t digits_end(size_t p) const {
    while (p < src_.size() && (is_digit(src_[p]) || (src_[p] == '_' && p + 1 < src_.size() && is_digit(src_[p + 1]))))
      ++p;
    return p;
  }

  size_t lex_number(size_t start) {
    auto strip = [](std::string_view s) {
      std::string out;
      for (char c : s) {
        if (c != '_') out += c;
      }
      return out;
    };
    char prefix = start + 1 < src_.size() && src_[start] == '0' ? static_cast<char>(src_[start + 1] | 0x20) : 0;
    if (prefix == 'b' || prefix == 'o' || prefix == 'x') {
      int base = prefix == 'b' ? 2 : prefix == 'o' ? 8 : 16;
      size_t p = start + 2;
      uint64_t value = 0;
      bool any = false;
      for (; p < src_.size(); ++p) {
        if (src_[p] == '_') continue;
        int d = hex_value(src_[p]);
        if (d < 0 || d >= base) break;
        if (value > (static_cast<uint64_t>(INT64_MAX) - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) {
          fail_at(start, "integer literal too large");
        }
        value = value * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
        any = true;
      }
      if (!any) fail_at(start, "invalid integer literal");
      tokens_.push_back(Token{TokenKind::Integer, {}, static_cast<int64_t>(value), 0, start});
      return p;
    }
    size_t p = digits_end(start);
    bool is_float = false;
    // A number right after a dot is an index (x.0.1), never a float.
    bool after_dot = start > 0 && src_[start - 1] == '.';
    if (!after_dot && p + 1 < src_.size() && src_[p] == '.' && is_digit(src_[p + 1])) {
      p = digits_end(p + 1);
      is_float = true;
    }
    if (!after_dot && p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
      size_t q = p + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && is_digit(src_[q])) {
        p = digits_end(q);
        is_float = true;
      }
    }
    std::string text = strip(src_.substr(start, p - start));
    if (is_float) {
      tokens_.push_back(Token{TokenKind::Float, {}, 0, std::strtod(text.c_str(), nullptr), start});
    } else {
      errno = 0;
      long long value = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == ERANGE) fail_at(start, "integer literal too large");
      tokens_.push_back(Token{TokenKind::Integer, {}, value, 0, start});
    }
    return p;
  }
};

}  // namespace

std::string normalize_source(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::vector<Token> tokenize(std::string_view normalized_source) { return Lexer(normalized_source).run(); }

}  // namespace dseek::jinja
