#include "chat/py_string.h"

#include <algorithm>

#include "tokenizer/utf8.h"
#include "util/error.h"

namespace dseek::pystr {

namespace {

std::vector<char32_t> decode_all(std::string_view s) {
  std::vector<char32_t> cps;
  for (size_t i = 0; i < s.size();) cps.push_back(decode(s, i));
  return cps;
}

std::string encode_all(const std::vector<char32_t>& cps) {
  std::string out;
  for (char32_t cp : cps) utf8::append(out, cp);
  return out;
}

char32_t to_upper(char32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z' ? c - 32 : c;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c == 0x131) return 'I';
  if (c == 0x17F) return 'S';
  if ((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c & ~1u;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c : c - 1;
  if (c == 0x3C2) return 0x3A3;
  if (c >= 0x3B1 && c <= 0x3C9) return c - 32;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  if (c >= 0xFF41 && c <= 0xFF5A) return c - 32;
  return c;
}

char32_t to_lower(char32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c == 0x178) return 0xFF;
  if ((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c | 1u;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c + 1 : c;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  if (c >= 0xFF21 && c <= 0xFF3A) return c + 32;
  return c;
}

bool is_cased(char32_t c) { return to_upper(c) != c || to_lower(c) != c || c == 0xDF; }
bool is_upper_cp(char32_t c) { return is_cased(c) && to_lower(c) != c; }
bool is_lower_cp(char32_t c) { return is_cased(c) && !is_upper_cp(c); }

void append_upper(std::string& out, char32_t c) {
  if (c == 0xDF) {
    out += "SS";  // ß has no single-character capital in Python's mapping
    return;
  }
  utf8::append(out, to_upper(c));
}

bool is_alpha_cp(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return is_cased(c) || (c >= 0x3040 && c <= 0x30FF) || (c >= 0x3400 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7AF);
}
bool is_digit_cp(char32_t c) { return (c >= '0' && c <= '9') || (c >= 0xFF10 && c <= 0xFF19); }

bool is_line_break(char32_t c) {
  return c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1C && c <= 0x1E) || c == 0x85 || c == 0x2028 ||
         c == 0x2029;
}

template <typename Pred>
bool all_of_nonempty(std::string_view s, Pred pred) {
  auto cps = decode_all(s);
  return !cps.empty() && std::all_of(cps.begin(), cps.end(), pred);
}

}  // namespace

char32_t decode(std::string_view s, size_t& i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char lead = byte(i);
  if (lead < 0x80) {
    ++i;
    return lead;
  }
  size_t extra = lead >= 0xF0 && lead < 0xF5 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC2 && lead < 0xE0 ? 1 : 0;
  if (extra == 0 || i + extra >= s.size()) {
    ++i;
    return 0xFFFD;
  }
  char32_t cp = lead & (0x3F >> extra);
  for (size_t k = 1; k <= extra; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are invalid.
  static constexpr char32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[extra] || (cp >= 0xD800 && cp < 0xE000) || cp > 0x10FFFF) {
    ++i;
    return 0xFFFD;
  }
  i += extra + 1;
  return cp;
}

size_t length(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    decode(s, i);
    ++n;
  }
  return n;
}

std::vector<size_t> offsets(std::string_view s) {
  std::vector<size_t> result;
  for (size_t i = 0; i < s.size();) {
    result.push_back(i);
    decode(s, i);
  }
  result.push_back(s.size());
  return result;
}

bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right) {
  auto cps = decode_all(s);
  std::vector<char32_t> set;
  if (chars) set = decode_all(*chars);
  auto strippable = [&](char32_t c) { return chars ? std::find(set.begin(), set.end(), c) != set.end() : is_space(c); };
  size_t begin = 0, end = cps.size();
  if (left) {
    while (begin < end && strippable(cps[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strippable(cps[end - 1])) --end;
  }
  return encode_all(
      std::vector<char32_t>(cps.begin() + static_cast<ptrdiff_t>(begin), cps.begin() + static_cast<ptrdiff_t>(end)));
}

std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit) {
  std::vector<std::string> parts;
  if (sep) {
    if (sep->empty()) fail("empty separator");
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      size_t at = s.find(*sep, start);
      if (at == std::string_view::npos) break;
      parts.emplace_back(s.substr(start, at - start));
      start = at + sep->size();
    }
    parts.emplace_back(s.substr(start));
    return parts;
  }
  auto cps = decode_all(s);
  size_t i = 0;
  while (true) {
    while (i < cps.size() && is_space(cps[i])) ++i;
    if (i == cps.size()) break;
    // Past maxsplit, the rest (with its trailing whitespace) is the last part.
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
      parts.push_back(encode_all({cps.begin() + static_cast<ptrdiff_t>(i), cps.end()}));
      break;
    }
    size_t start = i;
    while (i < cps.size() && !is_space(cps[i])) ++i;
    parts.push_back(encode_all({cps.begin() + static_cast<ptrdiff_t>(start), cps.begin() + static_cast<ptrdiff_t>(i)}));
  }
  return parts;
}

std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit) {
  std::vector<std::string> parts;
  if (sep) {
    if (sep->empty()) fail("empty separator");
    size_t end = s.size();
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      if (end < sep->size()) break;
      size_t at = s.rfind(*sep, end - sep->size());
      if (at == std::string_view::npos) break;
      parts.emplace_back(s.substr(at + sep->size(), end - at - sep->size()));
      end = at;
    }
    parts.emplace_back(s.substr(0, end));
    std::reverse(parts.begin(), parts.end());
    return parts;
  }
  auto cps = decode_all(s);
  size_t i = cps.size();
  while (true) {
    while (i > 0 && is_space(cps[i - 1])) --i;
    if (i == 0) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
      parts.push_back(encode_all({cps.begin(), cps.begin() + static_cast<ptrdiff_t>(i)}));
      break;
    }
    size_t end = i;
    while (i > 0 && !is_space(cps[i - 1])) --i;
    parts.push_back(encode_all({cps.begin() + static_cast<ptrdiff_t>(i), cps.begin() + static_cast<ptrdiff_t>(end)}));
  }
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::vector<std::string> splitlines(std::string_view s, bool keepends) {
  auto cps = decode_all(s);
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t i = 0; i < cps.size(); ++i) {
    if (!is_line_break(cps[i])) continue;
    size_t end = i;
    if (cps[i] == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') ++i;
    size_t stop = keepends ? i + 1 : end;
    lines.push_back(
        encode_all({cps.begin() + static_cast<ptrdiff_t>(start), cps.begin() + static_cast<ptrdiff_t>(stop)}));
    start = i + 1;
  }
  if (start < cps.size()) lines.push_back(encode_all({cps.begin() + static_cast<ptrdiff_t>(start), cps.end()}));
  return lines;
}

std::string upper(std::string_view s) {
  std::string out;
  for (char32_t c : decode_all(s)) append_upper(out, c);
  return out;
}

std::string lower(std::string_view s) {
  std::string out;
  for (char32_t c : decode_all(s)) utf8::append(out, to_lower(c));
  return out;
}

std::string title(std::string_view s) {
  std::string out;
  bool previous_cased = false;
  for (char32_t c : decode_all(s)) {
    if (previous_cased) {
      utf8::append(out, to_lower(c));
    } else {
      append_upper(out, c);
    }
    previous_cased = is_cased(c);
  }
  return out;
}

std::string capitalize(std::string_view s) {
  std::string out;
  bool first = true;
  for (char32_t c : decode_all(s)) {
    if (first) {
      append_upper(out, c);
    } else {
      utf8::append(out, to_lower(c));
    }
    first = false;
  }
  return out;
}

std::string swapcase(std::string_view s) {
  std::string out;
  for (char32_t c : decode_all(s)) {
    if (is_upper_cp(c)) {
      utf8::append(out, to_lower(c));
    } else {
      append_upper(out, c);
    }
  }
  return out;
}

bool is_lower(std::string_view s) {
  auto cps = decode_all(s);
  return std::any_of(cps.begin(), cps.end(), is_cased) && std::none_of(cps.begin(), cps.end(), is_upper_cp);
}

bool is_upper(std::string_view s) {
  auto cps = decode_all(s);
  return std::any_of(cps.begin(), cps.end(), is_cased) && std::none_of(cps.begin(), cps.end(), is_lower_cp);
}

bool is_alpha(std::string_view s) { return all_of_nonempty(s, is_alpha_cp); }
bool is_digit(std::string_view s) { return all_of_nonempty(s, is_digit_cp); }
bool is_alnum(std::string_view s) {
  return all_of_nonempty(s, [](char32_t c) { return is_alpha_cp(c) || is_digit_cp(c); });
}
bool is_space(std::string_view s) {
  return all_of_nonempty(s, [](char32_t c) { return is_space(c); });
}

std::string replace(std::string_view s, std::string_view old, std::string_view replacement, int64_t count) {
  std::string out;
  int64_t done = 0;
  if (old.empty()) {
    // Python inserts the replacement before every character and at the end.
    size_t i = 0;
    while (i < s.size()) {
      if (count >= 0 && done >= count) break;
      out += replacement;
      ++done;
      size_t start = i;
      decode(s, i);
      out.append(s.substr(start, i - start));
    }
    if (i < s.size()) {
      out.append(s.substr(i));
    } else if (count < 0 || done < count) {
      out += replacement;
    }
    return out;
  }
  size_t start = 0;
  while (count < 0 || done < count) {
    size_t at = s.find(old, start);
    if (at == std::string_view::npos) break;
    out.append(s.substr(start, at - start));
    out += replacement;
    start = at + old.size();
    ++done;
  }
  out.append(s.substr(start));
  return out;
}

int64_t find(std::string_view s, std::string_view sub, bool reverse) {
  size_t at = reverse ? s.rfind(sub) : s.find(sub);
  if (at == std::string_view::npos) return -1;
  return static_cast<int64_t>(length(s.substr(0, at)));
}

int64_t count(std::string_view s, std::string_view sub) {
  if (sub.empty()) return static_cast<int64_t>(length(s)) + 1;
  int64_t n = 0;
  for (size_t at = s.find(sub); at != std::string_view::npos; at = s.find(sub, at + sub.size())) ++n;
  return n;
}

}  // namespace dseek::pystr
