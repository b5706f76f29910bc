// PCRE2 (UTF + UCP, JIT) regular expressions with the match semantics Hugging Face
// tokenizers get from Oniguruma: ^ and $ at line boundaries, Oniguruma's \s \w \h, and
// find_iter's rule for empty matches. Match data and JIT stacks are per thread, so one
// Regex is shareable.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dseek {

class Regex {
 public:
  // `where` names the pattern's origin (file and field) in error messages.
  Regex(std::string_view pattern, std::string_view where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Pattern matching `literal` exactly.
  static std::string escape(std::string_view literal);

  // Non-overlapping matches, left to right, as [begin, end) byte offsets. The subject
  // must be valid UTF-8 (callers validate input once).
  void find_all(std::string_view subject, std::vector<std::pair<size_t, size_t>>& matches) const;

  // Whether the pattern matches somewhere in the subject.
  bool search(std::string_view subject) const;

 private:
  // Returns false when there is no match at or after `start`.
  bool match_at(std::string_view subject, size_t start, size_t& begin, size_t& end) const;

  std::string where_;
  void* code_ = nullptr;  // pcre2_code_8, kept opaque to keep pcre2.h out of this header
  bool jit_ = false;
};

}  // namespace dseek
