#include "tokenizer/regex.h"

#include <pcre2.h>

#include <memory>

#include "tokenizer/utf8.h"
#include "util/error.h"

namespace dseek {
namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  int length = pcre2_get_error_message(code, buffer, sizeof(buffer));
  return length < 0 ? fmt::format("PCRE2 error {}", code) : std::string(reinterpret_cast<char*>(buffer), length);
}

// Scratch reused by every match on this thread: only the whole-match offsets are read,
// so a one-pair match data serves every pattern.
struct ThreadScratch {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  // Long pieces (a page of CJK text is one pre-token) need more than the 32 KiB default.
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);

  ThreadScratch() {
    if (data == nullptr || context == nullptr || stack == nullptr) fail("regex: out of memory for match data");
    pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~ThreadScratch() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
};

ThreadScratch& scratch() {
  thread_local ThreadScratch instance;
  return instance;
}

// Oniguruma's Unicode classes where PCRE2's differ: \s lacks U+180E (Unicode 6.3 made it a
// format character), \w takes every mark and number, and \h is a hex digit.
constexpr std::string_view kSpace = "\\t-\\r\\x{85}\\p{Z}";
constexpr std::string_view kWord = "\\p{L}\\p{M}\\p{N}\\p{Pc}";
constexpr std::string_view kHex = "0-9a-fA-F";

// Rewrites \s \S \w \W \h \H with Oniguruma's meaning. A negated class inside brackets
// ([^\S]) cannot be spelled out there and keeps PCRE2's meaning.
std::string oniguruma_to_pcre2(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size());
  bool in_class = false;
  size_t class_start = 0;  // where a leading ']' would still be a literal
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      char e = pattern[++i];
      if (e == 'Q') {  // \Q...\E is literal text
        size_t end = pattern.find("\\E", i + 1);
        end = end == std::string_view::npos ? pattern.size() : end + 2;
        out.append(pattern.substr(i - 1, end - (i - 1)));
        i = end - 1;
        continue;
      }
      std::string_view set = e == 's' || e == 'S'   ? kSpace
                             : e == 'w' || e == 'W' ? kWord
                             : e == 'h' || e == 'H' ? kHex
                                                    : "";
      bool negated = e == 'S' || e == 'W' || e == 'H';
      if (set.empty() || (in_class && negated)) {
        out += c;
        out += e;
      } else if (in_class) {
        out += set;
      } else {
        out += negated ? "[^" : "[";
        out += set;
        out += ']';
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      class_start = i + 1;
      if (class_start < pattern.size() && pattern[class_start] == '^') ++class_start;
    } else if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {
      size_t end = pattern.find(":]", i + 2);  // a POSIX class such as [:alpha:]
      if (end != std::string_view::npos) {
        out.append(pattern.substr(i, end + 2 - i));
        i = end + 1;
        continue;
      }
    } else if (in_class && c == ']' && i != class_start) {
      in_class = false;
    }
    out += c;
  }
  return out;
}

}  // namespace

Regex::Regex(std::string_view pattern, std::string_view where) : where_(where) {
  std::unique_ptr<pcre2_compile_context, decltype(&pcre2_compile_context_free)> context(
      pcre2_compile_context_create(nullptr), &pcre2_compile_context_free);
  pcre2_set_newline(context.get(), PCRE2_NEWLINE_LF);
  int error = 0;
  PCRE2_SIZE offset = 0;
  // MULTILINE: Oniguruma's default syntax anchors ^ and $ at line boundaries.
  std::string translated = oniguruma_to_pcre2(pattern);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &error, &offset, context.get());
  if (code == nullptr) fail("{}: invalid regex at offset {}: {}", where_, offset, pcre2_message(error));
  code_ = code;
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

std::string Regex::escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    auto u = static_cast<unsigned char>(c);
    bool alnum = (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
    if (u < 0x80 && !alnum) {
      // Control characters cannot be escaped with a backslash; spell them as hex.
      if (u < 0x20 || u == 0x7F) {
        out += fmt::format("\\x{{{:x}}}", u);
        continue;
      }
      out += '\\';
    }
    out += c;
  }
  return out;
}

bool Regex::match_at(std::string_view subject, size_t start, size_t& begin, size_t& end) const {
  ThreadScratch& s = scratch();
  auto* code = static_cast<pcre2_code*>(code_);
  auto* text = reinterpret_cast<PCRE2_SPTR>(subject.data());
  int rc = jit_ ? pcre2_jit_match(code, text, subject.size(), start, 0, s.data, s.context)
                : pcre2_match(code, text, subject.size(), start, PCRE2_NO_UTF_CHECK, s.data, s.context);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  // rc == 0 only says the one-pair vector could not hold the capture groups.
  if (rc < 0) fail("{}: regex match failed: {}", where_, pcre2_message(rc));
  PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(s.data);
  begin = ovector[0];
  end = ovector[1];
  return true;
}

void Regex::find_all(std::string_view subject, std::vector<std::pair<size_t, size_t>>& matches) const {
  matches.clear();
  size_t search_from = 0;
  bool have_previous = false;
  size_t previous_end = 0;
  while (search_from <= subject.size()) {
    size_t begin = 0, end = 0;
    if (!match_at(subject, search_from, begin, end)) break;
    // Like Oniguruma's find_iter: an empty match right where the previous match ended is
    // skipped by moving the search one character on.
    if (begin == end && have_previous && end == previous_end) {
      if (search_from == subject.size()) break;
      search_from += utf8::sequence_length(static_cast<unsigned char>(subject[search_from]));
      continue;
    }
    matches.emplace_back(begin, end);
    have_previous = true;
    previous_end = end;
    search_from = end;
  }
}

bool Regex::search(std::string_view subject) const {
  size_t begin = 0, end = 0;
  return match_at(subject, 0, begin, end);
}

}  // namespace dseek
