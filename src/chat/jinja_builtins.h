// Jinja2's filters and tests (plus transformers' tojson and a from_json filter), and the
// global functions that need no render state.
#pragma once

#include <string_view>

#include "chat/jinja_value.h"

namespace dseek::jinja {

// Longest list range() builds.
inline constexpr int64_t kMaxRangeLength = int64_t{1} << 20;

using FilterFn = Value (*)(const Value& input, CallArgs& args);
using TestFn = bool (*)(const Value& input, CallArgs& args);

// Null when there is no such filter or test.
FilterFn find_filter(std::string_view name);
TestFn find_test(std::string_view name);

Value builtin_range(CallArgs& args);
Value builtin_dict(CallArgs& args);

}  // namespace dseek::jinja
