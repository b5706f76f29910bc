// Errors at a place in the template source. They carry a byte offset; Template turns them into
// dseek::Error messages that name the template, line and column.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "util/error.h"

namespace dseek::jinja {

class SourceError : public Error {
 public:
  SourceError(size_t pos, const std::string& message) : Error(message), pos_(pos) {}
  size_t pos() const { return pos_; }

 private:
  size_t pos_;
};

template <typename... Args>
[[noreturn]] void fail_at(size_t pos, fmt::format_string<Args...> format, Args&&... args) {
  throw SourceError(pos, fmt::format(format, std::forward<Args>(args)...));
}

// "line L, column C" (both 1-based, columns in code points) of a byte offset into source.
std::string describe_location(std::string_view source, size_t pos);

}  // namespace dseek::jinja
