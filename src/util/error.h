// Errors are exceptions carrying the context a user needs to fix the input:
// the file, tensor, field or request field at fault.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace dseek {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace dseek
