#include "chat/jinja_error.h"

#include <algorithm>

#include "chat/py_string.h"

namespace dseek::jinja {

std::string describe_location(std::string_view source, size_t pos) {
  pos = std::min(pos, source.size());
  size_t line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < pos; ++i) {
    if (source[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return fmt::format("line {}, column {}", line, pystr::length(source.substr(line_start, pos - line_start)) + 1);
}

}  // namespace dseek::jinja
