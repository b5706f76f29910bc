// Operators, attribute and item access, and the methods templates call on strings, dicts and
// lists, with Python's semantics (and transformers' immutable sandbox: no mutating methods).
#pragma once

#include <string>
#include <string_view>

#include "chat/jinja_value.h"

namespace dseek::jinja {

// Strings and lists an operation may build; larger results fail instead of exhausting memory.
inline constexpr size_t kMaxResultSize = size_t{1} << 28;

enum class BinaryOp { Add, Sub, Mul, Div, FloorDiv, Mod, Pow, Concat };

Value binary_op(BinaryOp op, const Value& a, const Value& b);
Value negate(const Value& v);
Value unary_plus(const Value& v);

// obj.name: an attribute (a method, a namespace attribute) first, then an item.
Value get_attr(const Value& object, const std::string& name);
// obj[key]: an item first, then an attribute.
Value get_item(const Value& object, const Value& key);
// obj[start:stop:step]; absent bounds are undefined or none.
Value slice(const Value& object, const Value& start, const Value& stop, const Value& step);
// Python's `format % args` for the usual conversions (s, r, d, i, f, x, %).
std::string percent_format(std::string_view format, const Value& args);

}  // namespace dseek::jinja
