#include "chat/jinja_builtins.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>

#include "chat/jinja_ops.h"
#include "chat/py_string.h"
#include "util/error.h"

namespace dseek::jinja {

namespace {

Value str_value(std::string s) { return Value::string(std::move(s)); }

// Jinja's make_attrgetter: "a.b.0" looks up a, then b, then item 0.
Value lookup_path(const Value& item, const Value& path) {
  if (path.is_integral()) return get_item(item, path);
  if (!path.is_string()) fail("attribute must be a string or an integer, not {}", type_name(path));
  Value current = item;
  for (const std::string& part : pystr::split(path.as_string(), std::string("."), -1)) {
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    current = get_item(current, digits && part.size() < 18 ? Value::integer(std::stoll(part)) : Value::string(part));
  }
  return current;
}

Value ignore_case(const Value& v) { return v.is_string() ? Value::string(pystr::lower(v.as_string())) : v; }

// Sort key: one attribute path or several separated by commas (make_multi_attrgetter).
Value sort_key(const Value& item, const Value& attribute, bool case_sensitive) {
  auto post = [&](const Value& v) { return case_sensitive ? v : ignore_case(v); };
  if (attribute.is_none()) return post(item);
  if (attribute.is_string() && attribute.as_string().find(',') != std::string::npos) {
    std::vector<Value> keys;
    for (const std::string& part : pystr::split(attribute.as_string(), std::string(","), -1)) {
      keys.push_back(post(lookup_path(item, Value::string(part))));
    }
    return Value::list(std::move(keys));
  }
  return post(lookup_path(item, attribute));
}

std::vector<Value> sorted(std::vector<Value> items, const std::vector<Value>& keys, bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return reverse ? compare(keys[b], keys[a]) < 0 : compare(keys[a], keys[b]) < 0;
  });
  std::vector<Value> out;
  out.reserve(items.size());
  for (size_t i : order) out.push_back(std::move(items[i]));
  return out;
}

// Python's int(s, base), or nothing when s is not an integer literal in that base.
std::optional<int64_t> parse_int(const std::string& text, int64_t base) {
  std::string s = pystr::strip(text, std::nullopt, true, true);
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  if (i + 1 < s.size() && s[i] == '0') {
    char p = static_cast<char>(s[i + 1] | 0x20);
    int64_t prefixed = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (prefixed && (base == prefixed || base == 0)) {
      base = prefixed;
      i += 2;
      if (i < s.size() && s[i] == '_') ++i;
    }
  }
  if (base == 0) base = 10;
  if (base < 2 || base > 36) fail("int() base must be >= 2 and <= 36, or 0");
  uint64_t value = 0;
  bool any = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '_' && any && i + 1 < s.size() && s[i + 1] != '_') continue;
    int d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'z' ? (c | 0x20) - 'a' + 10 : 99;
    if (d >= base) return std::nullopt;
    if (value > (static_cast<uint64_t>(INT64_MAX) - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) {
      fail("integer {} is out of range", text);
    }
    value = value * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
    any = true;
  }
  if (!any) return std::nullopt;
  return negative ? -static_cast<int64_t>(value) : static_cast<int64_t>(value);
}

// Python's float(s), or nothing when s is not a float literal.
std::optional<double> parse_float(const std::string& text) {
  std::string s;
  for (char c : pystr::strip(text, std::nullopt, true, true)) {
    if (c != '_') s += c;
  }
  if (s.empty() || s.find_first_of("xXpP") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return d;
}

Value f_abs(const Value& in, CallArgs& args) {
  bind_args("abs", args, {});
  if (in.is_integral()) {
    if (in.as_int() == INT64_MIN) fail("integer overflow");
    return Value::integer(std::abs(in.as_int()));
  }
  if (in.type() == Value::Type::Float) return Value::number(std::fabs(in.as_double()));
  fail("bad operand type for abs(): '{}'", type_name(in));
}

Value f_attr(const Value& in, CallArgs& args) {
  auto v = bind_args("attr", args, {{"name", std::nullopt}});
  if (!v[0].is_string()) fail("attribute name must be a string");
  const std::string& name = v[0].as_string();
  // Attributes only: a dict's keys are items, so only its methods count.
  if (in.is_dict() && get_attr(Value::dict({}), name).is_undefined()) {
    return Value::undefined(fmt::format("'dict object' has no attribute '{}'", name));
  }
  return get_attr(in, name);
}

Value f_batch(const Value& in, CallArgs& args) {
  auto v = bind_args("batch", args, {{"linecount", std::nullopt}, {"fill_with", Value::none()}});
  if (!v[0].is_integral() || v[0].as_int() <= 0) fail("batch() linecount must be a positive integer");
  size_t count = static_cast<size_t>(v[0].as_int());
  std::vector<Value> rows, row;
  for (Value& item : iterate(in)) {
    if (row.size() == count) rows.push_back(Value::list(std::exchange(row, {})));
    row.push_back(std::move(item));
  }
  if (!row.empty()) {
    if (!v[1].is_none()) row.resize(count, v[1]);
    rows.push_back(Value::list(std::move(row)));
  }
  return Value::list(std::move(rows));
}

Value f_capitalize(const Value& in, CallArgs& args) {
  bind_args("capitalize", args, {});
  return str_value(pystr::capitalize(to_str(in)));
}

Value f_center(const Value& in, CallArgs& args) {
  auto v = bind_args("center", args, {{"width", Value::integer(80)}});
  CallArgs call{{v[0]}, {}};
  return get_attr(Value::string(to_str(in)), "center").as_function().fn(call);
}

Value f_default(const Value& in, CallArgs& args) {
  auto v = bind_args("default", args, {{"default_value", Value::string("")}, {"boolean", Value::boolean(false)}});
  if (in.is_undefined() || (truthy(v[1]) && !truthy(in))) return v[0];
  return in;
}

Value f_dictsort(const Value& in, CallArgs& args) {
  auto v = bind_args(
      "dictsort", args,
      {{"case_sensitive", Value::boolean(false)}, {"by", Value::string("key")}, {"reverse", Value::boolean(false)}});
  if (!in.is_dict()) fail("dictsort expects a mapping, not {}", type_name(in));
  if (!v[1].is_string() || (v[1].as_string() != "key" && v[1].as_string() != "value")) {
    fail("You can only sort by either \"key\" or \"value\"");
  }
  size_t pos = v[1].as_string() == "key" ? 0 : 1;
  std::vector<Value> items, keys;
  for (const auto& [key, value] : in.as_dict().entries) {
    items.push_back(Value::list({Value::string(key), value}, true));
    const Value& k = pos == 0 ? items.back().as_list().items[0] : value;
    keys.push_back(truthy(v[0]) ? k : ignore_case(k));
  }
  return Value::list(sorted(std::move(items), keys, truthy(v[2])));
}

Value f_escape(const Value& in, CallArgs& args) {
  bind_args("escape", args, {});
  std::string out;
  for (char c : to_str(in)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return str_value(std::move(out));
}

Value f_first(const Value& in, CallArgs& args) {
  bind_args("first", args, {});
  auto items = iterate(in);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_last(const Value& in, CallArgs& args) {
  bind_args("last", args, {});
  auto items = iterate(in);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value f_float(const Value& in, CallArgs& args) {
  auto v = bind_args("float", args, {{"default", Value::number(0.0)}});
  if (in.is_undefined()) fail("{}", in.undefined_hint());
  if (in.is_number()) return Value::number(in.as_double());
  if (in.is_string()) {
    if (auto d = parse_float(in.as_string())) return Value::number(*d);
  }
  return v[0];
}

Value f_int(const Value& in, CallArgs& args) {
  auto v = bind_args("int", args, {{"default", Value::integer(0)}, {"base", Value::integer(10)}});
  if (in.is_undefined()) fail("{}", in.undefined_hint());
  if (in.is_integral()) return Value::integer(in.as_int());
  auto from_double = [&](double d) {
    if (std::isnan(d)) return v[0];
    if (std::isinf(d) || std::fabs(d) >= 9.2e18) fail("cannot convert float {} to integer", format_float(d));
    return Value::integer(static_cast<int64_t>(std::trunc(d)));
  };
  if (in.type() == Value::Type::Float) return from_double(in.as_double());
  if (in.is_string()) {
    if (!v[1].is_integral()) fail("int() base must be an integer");
    if (auto i = parse_int(in.as_string(), v[1].as_int())) return Value::integer(*i);
    if (auto d = parse_float(in.as_string())) return from_double(*d);
  }
  return v[0];
}

Value f_format(const Value& in, CallArgs& args) {
  if (!args.positional.empty() && !args.keyword.empty())
    fail("can't handle positional and keyword arguments at the same time");
  if (!args.keyword.empty()) return str_value(percent_format(to_str(in), Value::dict(args.keyword)));
  return str_value(percent_format(to_str(in), Value::list(args.positional, true)));
}

Value f_from_json(const Value& in, CallArgs& args) {
  bind_args("from_json", args, {});
  if (!in.is_string()) fail("from_json expects a string, not {}", type_name(in));
  nlohmann::ordered_json json;
  try {
    json = nlohmann::ordered_json::parse(in.as_string());
  } catch (const nlohmann::json::parse_error& e) {
    fail("from_json: invalid JSON: {}", e.what());
  }
  return Value::from_json(json);
}

Value f_indent(const Value& in, CallArgs& args) {
  auto v =
      bind_args("indent", args,
                {{"width", Value::integer(4)}, {"first", Value::boolean(false)}, {"blank", Value::boolean(false)}});
  std::string indention;
  if (v[0].is_string()) {
    indention = v[0].as_string();
  } else if (v[0].is_integral()) {
    if (v[0].as_int() > 10000) fail("indent width {} is too large", v[0].as_int());
    indention.assign(static_cast<size_t>(std::max<int64_t>(v[0].as_int(), 0)), ' ');
  } else {
    fail("indent width must be an integer or a string");
  }
  auto lines = pystr::splitlines(to_str(in) + "\n", false);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += '\n';
    bool indent = i == 0 ? truthy(v[1]) : truthy(v[2]) || !lines[i].empty();
    if (indent) out += indention;
    out += lines[i];
  }
  return str_value(std::move(out));
}

Value f_items(const Value& in, CallArgs& args) {
  bind_args("items", args, {});
  if (in.is_undefined()) return Value::list({});
  if (!in.is_dict()) fail("Can only get item pairs from a mapping.");
  CallArgs none;
  return get_attr(in, "items").as_function().fn(none);
}

Value f_join(const Value& in, CallArgs& args) {
  auto v = bind_args("join", args, {{"d", Value::string("")}, {"attribute", Value::none()}});
  std::string separator = to_str(v[0]);
  std::string out;
  bool first = true;
  for (const Value& item : iterate(in)) {
    if (!first) out += separator;
    first = false;
    out += to_str(v[1].is_none() ? item : lookup_path(item, v[1]));
    if (out.size() > kMaxResultSize) fail("result larger than {} bytes", kMaxResultSize);
  }
  return str_value(std::move(out));
}

Value f_length(const Value& in, CallArgs& args) {
  bind_args("length", args, {});
  switch (in.type()) {
    case Value::Type::Undefined: return Value::integer(0);
    case Value::Type::String: return Value::integer(static_cast<int64_t>(pystr::length(in.as_string())));
    case Value::Type::List: return Value::integer(static_cast<int64_t>(in.as_list().items.size()));
    case Value::Type::Dict: return Value::integer(static_cast<int64_t>(in.as_dict().entries.size()));
    default: fail("object of type '{}' has no len()", type_name(in));
  }
}

Value f_list(const Value& in, CallArgs& args) {
  bind_args("list", args, {});
  return Value::list(iterate(in));
}

Value f_lower(const Value& in, CallArgs& args) {
  bind_args("lower", args, {});
  return str_value(pystr::lower(to_str(in)));
}

Value f_upper(const Value& in, CallArgs& args) {
  bind_args("upper", args, {});
  return str_value(pystr::upper(to_str(in)));
}

Value f_map(const Value& in, CallArgs& args) {
  std::vector<Value> out;
  if (!truthy(in)) return Value::list({});
  if (args.positional.empty()) {
    auto v = bind_args("map", args, {{"attribute", std::nullopt}, {"default", Value::none()}});
    for (const Value& item : iterate(in)) {
      Value mapped = lookup_path(item, v[0]);
      out.push_back(mapped.is_undefined() && !v[1].is_none() ? v[1] : mapped);
    }
    return Value::list(std::move(out));
  }
  if (!args.positional[0].is_string()) fail("map() filter name must be a string");
  std::string name = args.positional[0].as_string();
  FilterFn filter = find_filter(name);
  if (!filter) fail("no filter named '{}'", name);
  CallArgs rest{{args.positional.begin() + 1, args.positional.end()}, args.keyword};
  for (const Value& item : iterate(in)) {
    CallArgs call = rest;
    out.push_back(filter(item, call));
  }
  return Value::list(std::move(out));
}

Value min_or_max(std::string_view name, const Value& in, CallArgs& args, bool max) {
  auto v = bind_args(name, args, {{"case_sensitive", Value::boolean(false)}, {"attribute", Value::none()}});
  auto items = iterate(in);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key = sort_key(items[0], v[1], truthy(v[0]));
  for (size_t i = 1; i < items.size(); ++i) {
    Value key = sort_key(items[i], v[1], truthy(v[0]));
    if (max ? compare(key, best_key, ">") > 0 : compare(key, best_key) < 0) {
      best = i;
      best_key = key;
    }
  }
  return items[best];
}

Value f_max(const Value& in, CallArgs& args) { return min_or_max("max", in, args, true); }
Value f_min(const Value& in, CallArgs& args) { return min_or_max("min", in, args, false); }

// select / reject / selectattr / rejectattr.
Value select_items(const Value& in, CallArgs& args, bool keep, bool by_attribute) {
  if (!truthy(in)) return Value::list({});
  size_t offset = 0;
  Value attribute;
  if (by_attribute) {
    if (args.positional.empty()) fail("Missing parameter for attribute name");
    attribute = args.positional[0];
    offset = 1;
  }
  TestFn test = nullptr;
  CallArgs rest{{}, args.keyword};
  if (args.positional.size() > offset) {
    if (!args.positional[offset].is_string()) fail("test name must be a string");
    test = find_test(args.positional[offset].as_string());
    if (!test) fail("no test named '{}'", args.positional[offset].as_string());
    rest.positional.assign(args.positional.begin() + static_cast<ptrdiff_t>(offset) + 1, args.positional.end());
  }
  std::vector<Value> out;
  for (const Value& item : iterate(in)) {
    Value subject = by_attribute ? lookup_path(item, attribute) : item;
    CallArgs call = rest;
    bool passed = test ? test(subject, call) : truthy(subject);
    if (passed == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value f_select(const Value& in, CallArgs& args) { return select_items(in, args, true, false); }
Value f_reject(const Value& in, CallArgs& args) { return select_items(in, args, false, false); }
Value f_selectattr(const Value& in, CallArgs& args) { return select_items(in, args, true, true); }
Value f_rejectattr(const Value& in, CallArgs& args) { return select_items(in, args, false, true); }

Value f_replace(const Value& in, CallArgs& args) {
  auto v = bind_args("replace", args, {{"old", std::nullopt}, {"new", std::nullopt}, {"count", Value::none()}});
  if (!v[2].is_none() && !v[2].is_integral()) fail("replace() count must be an integer");
  int64_t count = v[2].is_none() ? -1 : v[2].as_int();
  std::string out = pystr::replace(to_str(in), to_str(v[0]), to_str(v[1]), count);
  if (out.size() > kMaxResultSize) fail("result larger than {} bytes", kMaxResultSize);
  return str_value(std::move(out));
}

Value f_reverse(const Value& in, CallArgs& args) {
  bind_args("reverse", args, {});
  if (in.is_string()) return slice(in, Value(), Value(), Value::integer(-1));
  auto items = iterate(in);
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Value f_round(const Value& in, CallArgs& args) {
  auto v = bind_args("round", args, {{"precision", Value::integer(0)}, {"method", Value::string("common")}});
  if (!v[1].is_string() ||
      (v[1].as_string() != "common" && v[1].as_string() != "ceil" && v[1].as_string() != "floor")) {
    fail("method must be common, ceil or floor");
  }
  if (!in.is_number()) fail("type {} doesn't define __round__ method", type_name(in));
  if (!v[0].is_integral()) fail("round() precision must be an integer");
  int64_t precision = std::clamp<int64_t>(v[0].as_int(), -400, 400);
  const std::string& method = v[1].as_string();
  double scale = std::pow(10.0, static_cast<double>(precision));
  if (method != "common") {
    double x = in.as_double() * scale;
    return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
  }
  if (in.is_integral() && precision >= 0) return Value::integer(in.as_int());
  double d = in.as_double();
  if (std::isnan(d) || std::isinf(d)) return Value::number(d);
  double rounded;
  if (precision >= 0) {
    // The exact decimal expansion rounds half to even, like Python's correctly rounded round().
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::min<int64_t>(precision, 340)), d);
    rounded = std::strtod(buf, nullptr);
  } else {
    double unit = std::pow(10.0, static_cast<double>(-precision));
    rounded = std::nearbyint(d / unit) * unit;
  }
  if (in.is_integral()) return Value::integer(static_cast<int64_t>(rounded));
  return Value::number(rounded);
}

Value f_safe(const Value& in, CallArgs& args) {
  bind_args("safe", args, {});
  return str_value(to_str(in));
}

Value f_sort(const Value& in, CallArgs& args) {
  auto v = bind_args(
      "sort", args,
      {{"reverse", Value::boolean(false)}, {"case_sensitive", Value::boolean(false)}, {"attribute", Value::none()}});
  auto items = iterate(in);
  std::vector<Value> keys;
  keys.reserve(items.size());
  for (const Value& item : items) keys.push_back(sort_key(item, v[2], truthy(v[1])));
  return Value::list(sorted(std::move(items), keys, truthy(v[0])));
}

Value f_string(const Value& in, CallArgs& args) {
  bind_args("string", args, {});
  return str_value(to_str(in));
}

Value f_sum(const Value& in, CallArgs& args) {
  auto v = bind_args("sum", args, {{"attribute", Value::none()}, {"start", Value::integer(0)}});
  Value total = v[1];
  for (const Value& item : iterate(in))
    total = binary_op(BinaryOp::Add, total, v[0].is_none() ? item : lookup_path(item, v[0]));
  return total;
}

// Jinja's title: words start after whitespace or one of -({[<.
Value f_title(const Value& in, CallArgs& args) {
  bind_args("title", args, {});
  std::string s = to_str(in);
  std::string out;
  bool word_start = true;
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    char32_t cp = pystr::decode(s, i);
    std::string_view ch(s.data() + start, i - start);
    bool delimiter = pystr::is_space(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
    out += delimiter ? std::string(ch) : word_start ? pystr::upper(ch) : pystr::lower(ch);
    word_start = delimiter;
  }
  return str_value(std::move(out));
}

// transformers' tojson: json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys).
Value f_tojson(const Value& in, CallArgs& args) {
  auto v = bind_args("tojson", args,
                     {{"ensure_ascii", Value::boolean(false)},
                      {"indent", Value::none()},
                      {"separators", Value::none()},
                      {"sort_keys", Value::boolean(false)}});
  JsonDumpOptions options;
  options.ensure_ascii = truthy(v[0]);
  if (v[1].is_string()) {
    options.indent = v[1].as_string();
  } else if (v[1].is_integral()) {
    if (v[1].as_int() > 10000) fail("indent {} is too large", v[1].as_int());
    options.indent = std::string(static_cast<size_t>(std::max<int64_t>(v[1].as_int(), 0)), ' ');
  } else if (!v[1].is_none()) {
    fail("tojson indent must be an integer or a string");
  }
  if (!v[2].is_none()) {
    if (!v[2].is_list() || v[2].as_list().items.size() != 2 || !v[2].as_list().items[0].is_string() ||
        !v[2].as_list().items[1].is_string()) {
      fail("tojson separators must be a pair of strings");
    }
    options.separators = {v[2].as_list().items[0].as_string(), v[2].as_list().items[1].as_string()};
  }
  options.sort_keys = truthy(v[3]);
  return str_value(json_dumps(in, options));
}

Value f_trim(const Value& in, CallArgs& args) {
  auto v = bind_args("trim", args, {{"chars", Value::none()}});
  std::optional<std::string> chars;
  if (!v[0].is_none()) chars = to_str(v[0]);
  return str_value(pystr::strip(to_str(in), chars, true, true));
}

Value f_unique(const Value& in, CallArgs& args) {
  auto v = bind_args("unique", args, {{"case_sensitive", Value::boolean(false)}, {"attribute", Value::none()}});
  std::vector<Value> out, seen;
  for (const Value& item : iterate(in)) {
    Value key = sort_key(item, v[1], truthy(v[0]));
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Value::list(std::move(out));
}

const std::unordered_map<std::string_view, FilterFn>& filters() {
  static const std::unordered_map<std::string_view, FilterFn> table = {
      {"abs", f_abs},
      {"attr", f_attr},
      {"batch", f_batch},
      {"capitalize", f_capitalize},
      {"center", f_center},
      {"count", f_length},
      {"d", f_default},
      {"default", f_default},
      {"dictsort", f_dictsort},
      {"e", f_escape},
      {"escape", f_escape},
      {"first", f_first},
      {"float", f_float},
      {"format", f_format},
      {"from_json", f_from_json},
      {"indent", f_indent},
      {"int", f_int},
      {"items", f_items},
      {"join", f_join},
      {"last", f_last},
      {"length", f_length},
      {"list", f_list},
      {"lower", f_lower},
      {"map", f_map},
      {"max", f_max},
      {"min", f_min},
      {"reject", f_reject},
      {"rejectattr", f_rejectattr},
      {"replace", f_replace},
      {"reverse", f_reverse},
      {"round", f_round},
      {"safe", f_safe},
      {"select", f_select},
      {"selectattr", f_selectattr},
      {"sort", f_sort},
      {"string", f_string},
      {"sum", f_sum},
      {"title", f_title},
      {"tojson", f_tojson},
      {"trim", f_trim},
      {"unique", f_unique},
      {"upper", f_upper},
  };
  return table;
}

Value test_arg(std::string_view name, CallArgs& args) { return bind_args(name, args, {{"other", std::nullopt}})[0]; }

template <bool (*Check)(const Value&)>
bool simple_test(const Value& in, CallArgs& args) {
  bind_args("test", args, {});
  return Check(in);
}

bool is_defined(const Value& v) { return !v.is_undefined(); }
bool is_undefined(const Value& v) { return v.is_undefined(); }
bool is_none(const Value& v) { return v.is_none(); }
bool is_boolean(const Value& v) { return v.type() == Value::Type::Bool; }
bool is_true(const Value& v) { return v.type() == Value::Type::Bool && v.as_bool(); }
bool is_false(const Value& v) { return v.type() == Value::Type::Bool && !v.as_bool(); }
bool is_integer(const Value& v) { return v.type() == Value::Type::Int; }
bool is_float(const Value& v) { return v.type() == Value::Type::Float; }
bool is_number(const Value& v) { return v.is_number(); }
bool is_string(const Value& v) { return v.is_string(); }
bool is_mapping(const Value& v) { return v.is_dict(); }
bool is_iterable(const Value& v) { return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict(); }
bool is_callable(const Value& v) { return v.type() == Value::Type::Function; }
bool is_escaped(const Value&) { return false; }
bool is_lower(const Value& v) { return pystr::is_lower(to_str(v)); }
bool is_upper(const Value& v) { return pystr::is_upper(to_str(v)); }
bool is_even(const Value& v) { return equals(binary_op(BinaryOp::Mod, v, Value::integer(2)), Value::integer(0)); }
bool is_odd(const Value& v) { return equals(binary_op(BinaryOp::Mod, v, Value::integer(2)), Value::integer(1)); }

bool t_divisibleby(const Value& in, CallArgs& args) {
  return equals(binary_op(BinaryOp::Mod, in, test_arg("divisibleby", args)), Value::integer(0));
}
bool t_eq(const Value& in, CallArgs& args) { return equals(in, test_arg("eq", args)); }
bool t_ne(const Value& in, CallArgs& args) { return !equals(in, test_arg("ne", args)); }
bool t_lt(const Value& in, CallArgs& args) { return compare(in, test_arg("lt", args), "<") < 0; }
bool t_le(const Value& in, CallArgs& args) { return compare(in, test_arg("le", args), "<=") <= 0; }
bool t_gt(const Value& in, CallArgs& args) { return compare(in, test_arg("gt", args), ">") > 0; }
bool t_ge(const Value& in, CallArgs& args) { return compare(in, test_arg("ge", args), ">=") >= 0; }
bool t_in(const Value& in, CallArgs& args) { return contains(test_arg("in", args), in); }
bool t_sameas(const Value& in, CallArgs& args) { return in.same_as(test_arg("sameas", args)); }
bool t_filter(const Value& in, CallArgs& args) {
  bind_args("filter", args, {});
  return in.is_string() && find_filter(in.as_string()) != nullptr;
}
bool t_test(const Value& in, CallArgs& args) {
  bind_args("test", args, {});
  return in.is_string() && find_test(in.as_string()) != nullptr;
}

const std::unordered_map<std::string_view, TestFn>& tests() {
  static const std::unordered_map<std::string_view, TestFn> table = {
      {"boolean", simple_test<is_boolean>},
      {"callable", simple_test<is_callable>},
      {"defined", simple_test<is_defined>},
      {"divisibleby", t_divisibleby},
      {"eq", t_eq},
      {"equalto", t_eq},
      {"==", t_eq},
      {"escaped", simple_test<is_escaped>},
      {"even", simple_test<is_even>},
      {"false", simple_test<is_false>},
      {"filter", t_filter},
      {"float", simple_test<is_float>},
      {"ge", t_ge},
      {">=", t_ge},
      {"gt", t_gt},
      {">", t_gt},
      {"greaterthan", t_gt},
      {"in", t_in},
      {"integer", simple_test<is_integer>},
      {"iterable", simple_test<is_iterable>},
      {"le", t_le},
      {"<=", t_le},
      {"lower", simple_test<is_lower>},
      {"lt", t_lt},
      {"<", t_lt},
      {"lessthan", t_lt},
      {"mapping", simple_test<is_mapping>},
      {"ne", t_ne},
      {"!=", t_ne},
      {"none", simple_test<is_none>},
      {"number", simple_test<is_number>},
      {"odd", simple_test<is_odd>},
      {"sameas", t_sameas},
      {"sequence", simple_test<is_iterable>},
      {"string", simple_test<is_string>},
      {"test", t_test},
      {"true", simple_test<is_true>},
      {"undefined", simple_test<is_undefined>},
      {"upper", simple_test<is_upper>},
  };
  return table;
}

}  // namespace

FilterFn find_filter(std::string_view name) {
  auto it = filters().find(name);
  return it == filters().end() ? nullptr : it->second;
}

TestFn find_test(std::string_view name) {
  auto it = tests().find(name);
  return it == tests().end() ? nullptr : it->second;
}

Value builtin_range(CallArgs& args) {
  if (!args.keyword.empty()) fail("range() takes no keyword arguments");
  if (args.positional.empty() || args.positional.size() > 3) {
    fail("range expected 1 to 3 arguments, got {}", args.positional.size());
  }
  for (const Value& v : args.positional) {
    if (!v.is_integral()) fail("'{}' object cannot be interpreted as an integer", type_name(v));
  }
  int64_t start = 0, stop, step = 1;
  if (args.positional.size() == 1) {
    stop = args.positional[0].as_int();
  } else {
    start = args.positional[0].as_int();
    stop = args.positional[1].as_int();
    if (args.positional.size() == 3) step = args.positional[2].as_int();
  }
  if (step == 0) fail("range() arg 3 must not be zero");
  // Exact in 128 bits: the bounds are 64-bit.
  __int128 span = step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
  __int128 magnitude = step > 0 ? step : -static_cast<__int128>(step);
  __int128 length = span <= 0 ? 0 : (span + magnitude - 1) / magnitude;
  if (length > kMaxRangeLength) fail("range() of more than {} items", kMaxRangeLength);
  std::vector<Value> items;
  items.reserve(static_cast<size_t>(length));
  for (__int128 i = 0; i < length; ++i) items.push_back(Value::integer(static_cast<int64_t>(start + i * step)));
  return Value::list(std::move(items));
}

Value builtin_dict(CallArgs& args) {
  if (args.positional.size() > 1) fail("dict expected at most 1 argument, got {}", args.positional.size());
  std::vector<std::pair<std::string, Value>> entries;
  auto put = [&](const std::string& key, const Value& value) {
    for (auto& entry : entries) {
      if (entry.first == key) {
        entry.second = value;
        return;
      }
    }
    entries.emplace_back(key, value);
  };
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_dict()) {
      for (const auto& [key, value] : source.as_dict().entries) put(key, value);
    } else {
      for (const Value& pair : iterate(source)) {
        if (!pair.is_list() || pair.as_list().items.size() != 2 || !pair.as_list().items[0].is_string()) {
          fail("dict() needs pairs of a string key and a value");
        }
        put(pair.as_list().items[0].as_string(), pair.as_list().items[1]);
      }
    }
  }
  for (const auto& [key, value] : args.keyword) put(key, value);
  return Value::dict(std::move(entries));
}

}  // namespace dseek::jinja
