#include "chat/jinja_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>

#include "chat/py_string.h"
#include "util/error.h"
#include "tokenizer/utf8.h"

namespace dseek::jinja {

namespace {

// Bounds on %-format widths and precisions, which size the output.
constexpr int64_t kMaxFormatWidth = 10000;

[[noreturn]] void fail_undefined(const Value& v) { fail("{}", v.undefined_hint()); }

[[noreturn]] void unsupported(std::string_view op, const Value& a, const Value& b) {
  fail("unsupported operand type(s) for {}: '{}' and '{}'", op, type_name(a), type_name(b));
}

void check_size(size_t size) {
  if (size > kMaxResultSize) fail("result larger than {} bytes", kMaxResultSize);
}

Value repeat(const Value& seq, int64_t n) {
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    if (n <= 0 || s.empty()) return Value::string("");
    if (s.size() > kMaxResultSize / static_cast<size_t>(n)) check_size(kMaxResultSize + 1);
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out += s;
    return Value::string(std::move(out));
  }
  const ListData& list = seq.as_list();
  if (n <= 0 || list.items.empty()) return Value::list({}, list.tuple);
  if (list.items.size() > kMaxResultSize / 64 / static_cast<size_t>(n)) check_size(kMaxResultSize + 1);
  std::vector<Value> items;
  items.reserve(list.items.size() * static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) items.insert(items.end(), list.items.begin(), list.items.end());
  return Value::list(std::move(items), list.tuple);
}

// CPython's float floor division and modulo.
std::pair<double, double> float_divmod(double vx, double wx, std::string_view what) {
  if (wx == 0) fail("float {} by zero", what);
  double mod = std::fmod(vx, wx);
  double div = (vx - mod) / wx;
  if (mod != 0) {
    if ((wx < 0) != (mod < 0)) {
      mod += wx;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, wx);
  }
  double floordiv;
  if (div != 0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, vx / wx);
  }
  return {floordiv, mod};
}

Value int_pow(int64_t base, int64_t exp) {
  int64_t result = 1;
  while (exp > 0) {
    if ((exp & 1) && __builtin_mul_overflow(result, base, &result)) fail("integer overflow");
    exp >>= 1;
    if (exp > 0 && __builtin_mul_overflow(base, base, &base)) fail("integer overflow");
  }
  return Value::integer(result);
}

Value add(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) {
      int64_t r;
      if (__builtin_add_overflow(a.as_int(), b.as_int(), &r)) fail("integer overflow");
      return Value::integer(r);
    }
    return Value::number(a.as_double() + b.as_double());
  }
  if (a.is_string()) {
    if (!b.is_string()) fail("can only concatenate str (not \"{}\") to str", type_name(b));
    check_size(a.as_string().size() + b.as_string().size());
    return Value::string(a.as_string() + b.as_string());
  }
  if (a.is_list()) {
    if (!b.is_list() || b.as_list().tuple != a.as_list().tuple) {
      fail("can only concatenate {} (not \"{}\") to {}", type_name(a), type_name(b), type_name(a));
    }
    std::vector<Value> items = a.as_list().items;
    items.insert(items.end(), b.as_list().items.begin(), b.as_list().items.end());
    return Value::list(std::move(items), a.as_list().tuple);
  }
  unsupported("+", a, b);
}

Value multiply(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) {
      int64_t r;
      if (__builtin_mul_overflow(a.as_int(), b.as_int(), &r)) fail("integer overflow");
      return Value::integer(r);
    }
    return Value::number(a.as_double() * b.as_double());
  }
  bool a_seq = a.is_string() || a.is_list();
  bool b_seq = b.is_string() || b.is_list();
  if (a_seq && b.is_integral()) return repeat(a, b.as_int());
  if (b_seq && a.is_integral()) return repeat(b, a.as_int());
  if (a_seq || b_seq) fail("can't multiply sequence by non-int of type '{}'", type_name(a_seq ? b : a));
  unsupported("*", a, b);
}

Value arithmetic(BinaryOp op, const Value& a, const Value& b) {
  static constexpr std::string_view kSymbols[] = {"+", "-", "*", "/", "//", "%", "**", "~"};
  std::string_view symbol = kSymbols[static_cast<int>(op)];
  if (!a.is_number() || !b.is_number()) unsupported(symbol, a, b);
  bool integral = a.is_integral() && b.is_integral();
  switch (op) {
    case BinaryOp::Sub: {
      if (!integral) return Value::number(a.as_double() - b.as_double());
      int64_t r;
      if (__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) fail("integer overflow");
      return Value::integer(r);
    }
    case BinaryOp::Div:
      if (b.as_double() == 0) fail("division by zero");
      return Value::number(a.as_double() / b.as_double());
    case BinaryOp::FloorDiv:
    case BinaryOp::Mod: {
      if (!integral) {
        auto [div, mod] = float_divmod(a.as_double(), b.as_double(), op == BinaryOp::Mod ? "modulo" : "floor division");
        return Value::number(op == BinaryOp::Mod ? mod : div);
      }
      int64_t x = a.as_int(), y = b.as_int();
      if (y == 0) fail("integer division or modulo by zero");
      if (x == std::numeric_limits<int64_t>::min() && y == -1) {
        if (op == BinaryOp::Mod) return Value::integer(0);
        fail("integer overflow");
      }
      int64_t q = x / y, r = x % y;
      if (r != 0 && ((r < 0) != (y < 0))) {
        r += y;
        q -= 1;
      }
      return Value::integer(op == BinaryOp::Mod ? r : q);
    }
    case BinaryOp::Pow: {
      if (integral && b.as_int() >= 0) return int_pow(a.as_int(), b.as_int());
      double x = a.as_double(), y = b.as_double();
      if (x == 0 && y < 0) fail("0.0 cannot be raised to a negative power");
      if (x < 0 && y != std::floor(y)) fail("negative number cannot be raised to a fractional power");
      return Value::number(std::pow(x, y));
    }
    default: unsupported(symbol, a, b);
  }
}

Value strings_list(std::vector<std::string> parts, bool tuple = false) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (auto& part : parts) items.push_back(Value::string(std::move(part)));
  return Value::list(std::move(items), tuple);
}

const std::string& string_arg(const Value& v, std::string_view function) {
  if (!v.is_string()) fail("{}() argument must be str, not {}", function, type_name(v));
  return v.as_string();
}

std::optional<std::string> optional_string_arg(const Value& v, std::string_view function) {
  if (v.is_none()) return std::nullopt;
  return string_arg(v, function);
}

int64_t int_arg(const Value& v, std::string_view function) {
  if (!v.is_integral()) fail("{}() argument must be int, not {}", function, type_name(v));
  return v.as_int();
}

std::string pad(std::string_view s, int64_t width, std::string_view fill, char align) {
  int64_t length = static_cast<int64_t>(pystr::length(s));
  if (width <= length) return std::string(s);
  if (width > kMaxFormatWidth) fail("width {} is too large", width);
  int64_t total = width - length;
  int64_t left = align == '<' ? 0 : align == '>' ? total : total / 2 + (total & width & 1);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = left; i < total; ++i) out += fill;
  return out;
}

// Python's str.format for plain fields ({}, {0}, {name}) with !s / !r conversions.
std::string str_format(const std::string& format, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}')
        ++i;
      else
        fail("single '}}' encountered in format string");
      out += '}';
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    size_t close = format.find('}', i);
    if (close == std::string::npos) fail("single '{{' encountered in format string");
    std::string field = format.substr(i + 1, close - i - 1);
    i = close;
    char conversion = 's';
    if (size_t bang = field.find('!'); bang != std::string::npos) {
      if (bang + 2 != field.size()) fail("unsupported conversion in format field '{}'", field);
      conversion = field[bang + 1];
      field.resize(bang);
    }
    if (field.find(':') != std::string::npos) fail("format specifications are not supported: '{}'", field);
    const Value* value = nullptr;
    if (field.empty() || std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      size_t index = field.empty() ? auto_index++ : static_cast<size_t>(std::stoull(field.substr(0, 9)));
      if (index >= args.positional.size()) fail("replacement index {} out of range for positional args tuple", index);
      value = &args.positional[index];
    } else {
      for (const auto& [name, v] : args.keyword) {
        if (name == field) value = &v;
      }
      if (!value) fail("KeyError: '{}'", field);
    }
    out += conversion == 'r' ? repr(*value) : to_str(*value);
  }
  return out;
}

Value method(const Value& self, std::string name, std::function<Value(CallArgs&)> fn) {
  return Value::function(std::move(name), std::move(fn), self.depth() + 1);
}

bool starts_or_ends(const std::string& s, const Value& affix, bool start, std::string_view function) {
  auto test = [&](const std::string& a) { return start ? s.starts_with(a) : s.ends_with(a); };
  if (affix.is_list()) {
    for (const Value& item : affix.as_list().items) {
      if (test(string_arg(item, function))) return true;
    }
    return false;
  }
  return test(string_arg(affix, function));
}

std::optional<Value> string_method(const Value& self_value, const std::string& name) {
  const std::string s = self_value.as_string();
  using F = std::function<Value(CallArgs&)>;
  auto no_args = [&](auto fn) -> F {
    return [s, name, fn](CallArgs& a) {
      bind_args(name, a, {});
      return fn(s);
    };
  };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    return method(self_value, name, [s, name](CallArgs& a) {
      auto v = bind_args(name, a, {{"chars", Value::none()}});
      return Value::string(pystr::strip(s, optional_string_arg(v[0], name), name != "rstrip", name != "lstrip"));
    });
  }
  if (name == "split" || name == "rsplit") {
    return method(self_value, name, [s, name](CallArgs& a) {
      auto v = bind_args(name, a, {{"sep", Value::none()}, {"maxsplit", Value::integer(-1)}});
      auto sep = optional_string_arg(v[0], name);
      int64_t maxsplit = int_arg(v[1], name);
      return strings_list(name == "split" ? pystr::split(s, sep, maxsplit) : pystr::rsplit(s, sep, maxsplit));
    });
  }
  if (name == "splitlines") {
    return method(self_value, name, [s, name](CallArgs& a) {
      auto v = bind_args(name, a, {{"keepends", Value::boolean(false)}});
      return strings_list(pystr::splitlines(s, truthy(v[0])));
    });
  }
  if (name == "startswith" || name == "endswith") {
    return method(self_value, name, [s, name](CallArgs& a) {
      auto v = bind_args(name, a, {{"prefix", std::nullopt}});
      return Value::boolean(starts_or_ends(s, v[0], name == "startswith", name));
    });
  }
  using Transform = std::string (*)(std::string_view);
  static const std::pair<std::string_view, Transform> kTransforms[] = {
      {"upper", pystr::upper}, {"lower", pystr::lower},           {"casefold", pystr::lower},
      {"title", pystr::title}, {"capitalize", pystr::capitalize}, {"swapcase", pystr::swapcase}};
  for (const auto& [transform_name, transform] : kTransforms) {
    if (name == transform_name) {
      return method(self_value, name,
                    no_args([transform](const std::string& x) { return Value::string(transform(x)); }));
    }
  }
  using Predicate = bool (*)(std::string_view);
  static const std::pair<std::string_view, Predicate> kPredicates[] = {
      {"isalpha", pystr::is_alpha},   {"isdigit", pystr::is_digit}, {"isnumeric", pystr::is_digit},
      {"isdecimal", pystr::is_digit}, {"isalnum", pystr::is_alnum}, {"isspace", pystr::is_space},
      {"islower", pystr::is_lower},   {"isupper", pystr::is_upper}};
  for (const auto& [predicate_name, predicate] : kPredicates) {
    if (name == predicate_name) {
      return method(self_value, name,
                    no_args([predicate](const std::string& x) { return Value::boolean(predicate(x)); }));
    }
  }
  if (name == "replace") {
    return method(self_value, name, [s, name](CallArgs& a) {
      auto v = bind_args(name, a, {{"old", std::nullopt}, {"new", std::nullopt}, {"count", Value::integer(-1)}});
      std::string out = pystr::replace(s, string_arg(v[0], name), string_arg(v[1], name), int_arg(v[2], name));
      check_size(out.size());
      return Value::string(std::move(out));
    });
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    return method(self_value, name, [s, name](CallArgs& a) {
      auto v = bind_args(name, a, {{"sub", std::nullopt}});
      int64_t at = pystr::find(s, string_arg(v[0], name), name[0] == 'r');
      if (at < 0 && name.ends_with("index")) fail("substring not found");
      return Value::integer(at);
    });
  }
  if (name == "count") {
    return method(self_value, name, [s, name](CallArgs& a) {
      auto v = bind_args(name, a, {{"sub", std::nullopt}});
      return Value::integer(pystr::count(s, string_arg(v[0], name)));
    });
  }
  if (name == "join") {
    return method(self_value, name, [s, name](CallArgs& a) {
      auto v = bind_args(name, a, {{"iterable", std::nullopt}});
      std::string out;
      size_t i = 0;
      for (const Value& item : iterate(v[0])) {
        if (!item.is_string()) fail("sequence item {}: expected str instance, {} found", i, type_name(item));
        if (i++ > 0) out += s;
        out += item.as_string();
        check_size(out.size());
      }
      return Value::string(std::move(out));
    });
  }
  if (name == "format") {
    return method(self_value, name, [s](CallArgs& a) { return Value::string(str_format(s, a)); });
  }
  if (name == "center" || name == "ljust" || name == "rjust") {
    return method(self_value, name, [s, name](CallArgs& a) {
      auto v = bind_args(name, a, {{"width", std::nullopt}, {"fillchar", Value::string(" ")}});
      const std::string& fill = string_arg(v[1], name);
      if (pystr::length(fill) != 1) fail("The fill character must be exactly one character long");
      return Value::string(pad(s, int_arg(v[0], name), fill, name == "center" ? '^' : name == "ljust" ? '<' : '>'));
    });
  }
  if (name == "zfill") {
    return method(self_value, name, [s, name](CallArgs& a) {
      auto v = bind_args(name, a, {{"width", std::nullopt}});
      bool sign = !s.empty() && (s[0] == '-' || s[0] == '+');
      std::string padded =
          pad(std::string_view(s).substr(sign ? 1 : 0), int_arg(v[0], name) - (sign ? 1 : 0), "0", '>');
      return Value::string(sign ? s.substr(0, 1) + padded : padded);
    });
  }
  if (name == "partition" || name == "rpartition") {
    return method(self_value, name, [s, name](CallArgs& a) {
      auto v = bind_args(name, a, {{"sep", std::nullopt}});
      const std::string& sep = string_arg(v[0], name);
      if (sep.empty()) fail("empty separator");
      size_t at = name == "partition" ? s.find(sep) : s.rfind(sep);
      if (at == std::string::npos) {
        return name == "partition" ? strings_list({s, "", ""}, true) : strings_list({"", "", s}, true);
      }
      return strings_list({s.substr(0, at), sep, s.substr(at + sep.size())}, true);
    });
  }
  if (name == "removeprefix" || name == "removesuffix") {
    return method(self_value, name, [s, name](CallArgs& a) {
      auto v = bind_args(name, a, {{"affix", std::nullopt}});
      const std::string& affix = string_arg(v[0], name);
      if (name == "removeprefix") return Value::string(s.starts_with(affix) ? s.substr(affix.size()) : s);
      return Value::string(s.ends_with(affix) ? s.substr(0, s.size() - affix.size()) : s);
    });
  }
  return std::nullopt;
}

Value dict_items(const DictData& dict) {
  std::vector<Value> items;
  items.reserve(dict.entries.size());
  for (const auto& [key, value] : dict.entries) items.push_back(Value::list({Value::string(key), value}, true));
  return Value::list(std::move(items));
}

std::optional<Value> dict_method(const Value& self, const std::string& name) {
  if (name == "items" || name == "keys" || name == "values") {
    return method(self, name, [self, name](CallArgs& a) {
      bind_args(name, a, {});
      if (name == "items") return dict_items(self.as_dict());
      std::vector<Value> items;
      for (const auto& [key, value] : self.as_dict().entries)
        items.push_back(name == "keys" ? Value::string(key) : value);
      return Value::list(std::move(items));
    });
  }
  if (name == "get") {
    return method(self, name, [self, name](CallArgs& a) {
      auto v = bind_args(name, a, {{"key", std::nullopt}, {"default", Value::none()}});
      const Value* found = v[0].is_string() ? self.as_dict().find(v[0].as_string()) : nullptr;
      return found ? *found : v[1];
    });
  }
  return std::nullopt;
}

std::optional<Value> list_method(const Value& self, const std::string& name) {
  if (name == "index" || name == "count") {
    return method(self, name, [self, name](CallArgs& a) {
      auto v = bind_args(name, a, {{"value", std::nullopt}});
      const auto& items = self.as_list().items;
      if (name == "count") {
        return Value::integer(
            std::count_if(items.begin(), items.end(), [&](const Value& x) { return equals(x, v[0]); }));
      }
      for (size_t i = 0; i < items.size(); ++i) {
        if (equals(items[i], v[0])) return Value::integer(static_cast<int64_t>(i));
      }
      fail("{} is not in list", repr(v[0]));
    });
  }
  return std::nullopt;
}

bool is_mutator(const Value& object, const std::string& name) {
  static constexpr std::string_view kList[] = {"append", "extend",  "insert", "pop",
                                               "remove", "reverse", "sort",   "clear"};
  static constexpr std::string_view kDict[] = {"update", "pop", "popitem", "setdefault", "clear"};
  if (object.is_list() && !object.as_list().tuple)
    return std::find(std::begin(kList), std::end(kList), name) != std::end(kList);
  if (object.is_dict()) return std::find(std::begin(kDict), std::end(kDict), name) != std::end(kDict);
  return false;
}

std::string object_description(const Value& object) {
  return object.is_none() ? "'None'" : fmt::format("'{} object'", type_name(object));
}

Value missing_attribute(const Value& object, const std::string& name) {
  return Value::undefined(fmt::format("{} has no attribute '{}'", object_description(object), name));
}

Value missing_element(const Value& object, const Value& key) {
  if (key.is_string()) return missing_attribute(object, key.as_string());
  return Value::undefined(fmt::format("{} has no element {}", object_description(object), repr(key)));
}

// Normalizes slice bounds like CPython's PySlice_AdjustIndices; returns the selected indices.
std::vector<int64_t> slice_indices(int64_t length, const Value& start_v, const Value& stop_v, const Value& step_v) {
  auto bound = [](const Value& v) -> std::optional<int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    if (!v.is_integral()) fail("slice indices must be integers or None");
    return v.as_int();
  };
  int64_t step = bound(step_v).value_or(1);
  if (step == 0) fail("slice step cannot be zero");
  auto adjust = [&](std::optional<int64_t> v, int64_t absent) {
    if (!v) return absent;
    int64_t x = *v;
    if (x < 0) {
      x += length;
      if (x < 0) x = step < 0 ? -1 : 0;
    } else if (x >= length) {
      x = step < 0 ? length - 1 : length;
    }
    return x;
  };
  int64_t start = adjust(bound(start_v), step < 0 ? length - 1 : 0);
  int64_t stop = adjust(bound(stop_v), step < 0 ? -1 : length);
  std::vector<int64_t> indices;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) indices.push_back(i);
  return indices;
}

// The %-conversion of one value, following C printf flags the way Python does.
std::string convert_percent(const Value& v, const std::string& flags, int64_t width, int64_t precision, char conv) {
  bool left_align = flags.find('-') != std::string::npos;
  if (conv == 's' || conv == 'r' || conv == 'a') {
    std::string s = conv == 's' ? to_str(v) : repr(v);
    if (precision >= 0) {
      auto offsets = pystr::offsets(s);
      if (static_cast<size_t>(precision) + 1 < offsets.size()) s.resize(offsets[static_cast<size_t>(precision)]);
    }
    return pad(s, width, " ", left_align ? '<' : '>');
  }
  if (conv == 'c') {
    std::string s;
    if (v.is_integral() && v.as_int() >= 0 && v.as_int() <= 0x10FFFF) {
      utf8::append(s, static_cast<char32_t>(v.as_int()));
    } else if (v.is_string() && pystr::length(v.as_string()) == 1) {
      s = v.as_string();
    } else {
      fail("%c requires int or char");
    }
    return pad(s, width, " ", left_align ? '<' : '>');
  }
  if (std::strchr("diuxXo", conv)) {
    if (!v.is_number()) fail("%{} format: a real number is required, not {}", conv, type_name(v));
    if (!v.is_integral() && conv != 'd' && conv != 'i' && conv != 'u') {
      fail("%{} format: an integer is required, not {}", conv, type_name(v));
    }
    double d = v.as_double();
    if (!v.is_integral() && (std::isnan(d) || std::isinf(d)))
      fail("cannot convert float {} to integer", format_float(d));
    if (!v.is_integral() && std::fabs(d) >= 9.2e18) fail("integer overflow");
    int64_t x = v.is_integral() ? v.as_int() : static_cast<int64_t>(std::trunc(d));
    uint64_t magnitude = x < 0 ? 0 - static_cast<uint64_t>(x) : static_cast<uint64_t>(x);
    std::string digits = conv == 'x'   ? fmt::format("{:x}", magnitude)
                         : conv == 'X' ? fmt::format("{:X}", magnitude)
                         : conv == 'o' ? fmt::format("{:o}", magnitude)
                                       : fmt::format("{}", magnitude);
    if (precision > static_cast<int64_t>(digits.size()))
      digits.insert(0, static_cast<size_t>(precision) - digits.size(), '0');
    std::string prefix = x < 0                                  ? "-"
                         : flags.find('+') != std::string::npos ? "+"
                         : flags.find(' ') != std::string::npos ? " "
                                                                : "";
    if (flags.find('#') != std::string::npos && conv != 'd' && conv != 'i' && conv != 'u')
      prefix += std::string("0") + conv;
    int64_t fill = width - static_cast<int64_t>(prefix.size() + digits.size());
    if (fill <= 0) return prefix + digits;
    if (left_align) return prefix + digits + std::string(static_cast<size_t>(fill), ' ');
    if (flags.find('0') != std::string::npos) return prefix + std::string(static_cast<size_t>(fill), '0') + digits;
    return std::string(static_cast<size_t>(fill), ' ') + prefix + digits;
  }
  if (std::strchr("eEfFgG", conv)) {
    if (!v.is_number()) fail("must be real number, not {}", type_name(v));
    std::string spec = "%" + flags;
    if (width >= 0) spec += std::to_string(width);
    if (precision >= 0) spec += "." + std::to_string(precision);
    spec += conv;
    int n = std::snprintf(nullptr, 0, spec.c_str(), v.as_double());
    std::vector<char> buf(static_cast<size_t>(n) + 1);
    std::snprintf(buf.data(), buf.size(), spec.c_str(), v.as_double());
    return std::string(buf.data(), static_cast<size_t>(n));
  }
  fail("unsupported format character '{}'", conv);
}

}  // namespace

Value binary_op(BinaryOp op, const Value& a, const Value& b) {
  if (op == BinaryOp::Concat) {
    std::string left = to_str(a), right = to_str(b);
    check_size(left.size() + right.size());
    return Value::string(left + right);
  }
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  switch (op) {
    case BinaryOp::Add: return add(a, b);
    case BinaryOp::Mul: return multiply(a, b);
    case BinaryOp::Mod:
      if (a.is_string()) return Value::string(percent_format(a.as_string(), b));
      return arithmetic(op, a, b);
    default: return arithmetic(op, a, b);
  }
}

Value negate(const Value& v) {
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_integral()) {
    if (v.as_int() == std::numeric_limits<int64_t>::min()) fail("integer overflow");
    return Value::integer(-v.as_int());
  }
  if (v.type() == Value::Type::Float) return Value::number(-v.as_double());
  fail("bad operand type for unary -: '{}'", type_name(v));
}

Value unary_plus(const Value& v) {
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_integral()) return Value::integer(v.as_int());
  if (v.type() == Value::Type::Float) return v;
  fail("bad operand type for unary +: '{}'", type_name(v));
}

Value get_attr(const Value& object, const std::string& name) {
  if (object.is_undefined()) fail_undefined(object);
  if (name.starts_with("_")) return missing_attribute(object, name);
  if (is_mutator(object, name)) {
    return Value::undefined(fmt::format("access to attribute '{}' of '{}' object is unsafe.", name, type_name(object)));
  }
  std::optional<Value> found;
  switch (object.type()) {
    case Value::Type::String: found = string_method(object, name); break;
    case Value::Type::Dict:
      found = dict_method(object, name);
      if (!found) {
        if (const Value* item = object.as_dict().find(name)) return *item;
      }
      break;
    case Value::Type::List: found = list_method(object, name); break;
    case Value::Type::Object:
      if (const Value* attr = object.as_object().find(name)) return *attr;
      break;
    default: break;
  }
  return found ? *found : missing_attribute(object, name);
}

Value get_item(const Value& object, const Value& key) {
  if (object.is_undefined()) fail_undefined(object);
  switch (object.type()) {
    case Value::Type::Dict:
      if (key.is_string()) {
        if (const Value* item = object.as_dict().find(key.as_string())) return *item;
      }
      break;
    case Value::Type::List:
    case Value::Type::String:
      if (key.is_integral()) {
        int64_t index = key.as_int();
        if (object.is_list()) {
          const auto& items = object.as_list().items;
          int64_t n = static_cast<int64_t>(items.size());
          if (index < 0) index += n;
          if (index >= 0 && index < n) return items[static_cast<size_t>(index)];
        } else {
          auto offsets = pystr::offsets(object.as_string());
          int64_t n = static_cast<int64_t>(offsets.size()) - 1;
          if (index < 0) index += n;
          if (index >= 0 && index < n) {
            size_t at = offsets[static_cast<size_t>(index)];
            return Value::string(object.as_string().substr(at, offsets[static_cast<size_t>(index) + 1] - at));
          }
        }
        return missing_element(object, key);
      }
      break;
    default: break;
  }
  if (key.is_string()) {
    Value attr = get_attr(object, key.as_string());
    if (!attr.is_undefined()) return attr;
  }
  return missing_element(object, key);
}

Value slice(const Value& object, const Value& start, const Value& stop, const Value& step) {
  if (object.is_undefined()) fail_undefined(object);
  if (object.is_list()) {
    const auto& items = object.as_list().items;
    std::vector<Value> out;
    for (int64_t i : slice_indices(static_cast<int64_t>(items.size()), start, stop, step))
      out.push_back(items[static_cast<size_t>(i)]);
    return Value::list(std::move(out), object.as_list().tuple);
  }
  if (object.is_string()) {
    const std::string& s = object.as_string();
    auto offsets = pystr::offsets(s);
    std::string out;
    for (int64_t i : slice_indices(static_cast<int64_t>(offsets.size()) - 1, start, stop, step)) {
      size_t at = offsets[static_cast<size_t>(i)];
      out.append(s, at, offsets[static_cast<size_t>(i) + 1] - at);
    }
    return Value::string(std::move(out));
  }
  // Jinja slices with Python's [] directly, not through its lenient item lookup.
  if (object.is_dict()) fail("unhashable type: 'slice'");
  fail("'{}' object is not subscriptable", type_name(object));
}

std::string percent_format(std::string_view format, const Value& args) {
  std::vector<Value> items;
  if (args.is_list() && args.as_list().tuple) {
    items = args.as_list().items;
  } else {
    items.push_back(args);
  }
  size_t next = 0;
  std::string out;
  auto read_number = [&](size_t& i) -> int64_t {
    if (i < format.size() && format[i] == '*') {
      ++i;
      if (next >= items.size()) fail("not enough arguments for format string");
      const Value& v = items[next++];
      if (!v.is_integral()) fail("* wants int");
      return v.as_int();
    }
    int64_t n = -1;
    while (i < format.size() && format[i] >= '0' && format[i] <= '9') {
      n = (n < 0 ? 0 : n) * 10 + (format[i++] - '0');
      if (n > kMaxFormatWidth) fail("format width or precision too large");
    }
    return n;
  };
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    if (++i >= format.size()) fail("incomplete format");
    const Value* arg = nullptr;
    if (format[i] == '(') {
      size_t close = format.find(')', i);
      if (close == std::string_view::npos) fail("incomplete format key");
      if (!args.is_dict()) fail("format requires a mapping");
      std::string key(format.substr(i + 1, close - i - 1));
      arg = args.as_dict().find(key);
      if (!arg) fail("KeyError: '{}'", key);
      i = close + 1;
    }
    std::string flags;
    while (i < format.size() && std::strchr("-+ #0", format[i]) && format[i] != '\0') flags += format[i++];
    int64_t width = read_number(i);
    int64_t precision = -1;
    if (i < format.size() && format[i] == '.') {
      ++i;
      precision = std::max<int64_t>(read_number(i), 0);
    }
    if (width > kMaxFormatWidth || precision > kMaxFormatWidth) fail("format width or precision too large");
    while (i < format.size() && std::strchr("hlL", format[i]) && format[i] != '\0') ++i;
    if (i >= format.size()) fail("incomplete format");
    char conv = format[i];
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (!arg) {
      if (next >= items.size()) fail("not enough arguments for format string");
      arg = &items[next++];
    }
    out += convert_percent(*arg, flags, width, precision, conv);
    check_size(out.size());
  }
  // Python skips this check when the argument looks like a mapping (has __getitem__).
  bool mapping_like = args.is_dict() || args.is_undefined() || (args.is_list() && !args.as_list().tuple);
  if (!mapping_like && next < items.size()) fail("not all arguments converted during string formatting");
  return out;
}

}  // namespace dseek::jinja
