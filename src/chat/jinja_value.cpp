#include "chat/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "chat/py_string.h"
#include "util/error.h"

namespace dseek::jinja {

namespace {

// Namespaces may refer to themselves; walks through them stop here instead of overflowing the stack.
constexpr int kMaxWalkDepth = 2 * kMaxNesting;

void check_depth(int depth) {
  if (depth > kMaxNesting) fail("values nested deeper than {} levels", kMaxNesting);
}

Value from_json_at(const nlohmann::ordered_json& json, int depth) {
  if (depth > kMaxNesting) fail("JSON nested deeper than {} levels", kMaxNesting);
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value::boolean(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::integer(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      uint64_t u = json.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) fail("integer {} is out of range", u);
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value::number(json.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value::string(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(from_json_at(item, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      std::vector<std::pair<std::string, Value>> entries;
      entries.reserve(json.size());
      for (const auto& [key, item] : json.items()) entries.emplace_back(key, from_json_at(item, depth + 1));
      return Value::dict(std::move(entries));
    }
    default: fail("unsupported JSON value of type {}", json.type_name());
  }
}

// Python's str.isprintable() for non-ASCII code points, approximated: controls, separators,
// format characters, surrogates and private use are the non-printable ranges templates meet.
bool printable(char32_t cp) {
  if (cp < 0x20 || cp == 0x7F) return false;
  if (cp < 0x7F) return true;
  if (cp <= 0xA0 || cp == 0xAD || cp == 0x1680 || cp == 0x3000 || cp == 0xFEFF) return false;
  if ((cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) || (cp >= 0x205F && cp <= 0x206F)) return false;
  if ((cp >= 0xD800 && cp <= 0xF8FF) || (cp >= 0xFFF9 && cp <= 0xFFFB) || cp >= 0xF0000) return false;
  return true;
}

void repr_string(std::string& out, std::string_view s) {
  char quote = s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos ? '"' : '\'';
  out += quote;
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    char32_t cp = pystr::decode(s, i);
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (printable(cp)) {
      out.append(s.substr(start, i - start));
    } else if (cp < 0x100) {
      out += fmt::format("\\x{:02x}", static_cast<uint32_t>(cp));
    } else if (cp < 0x10000) {
      out += fmt::format("\\u{:04x}", static_cast<uint32_t>(cp));
    } else {
      out += fmt::format("\\U{:08x}", static_cast<uint32_t>(cp));
    }
  }
  out += quote;
}

void repr_into(std::string& out, const Value& v, int depth) {
  if (depth > kMaxWalkDepth) fail("value nested too deeply to print");
  switch (v.type()) {
    case Value::Type::Undefined: out += "Undefined"; return;
    case Value::Type::String: repr_string(out, v.as_string()); return;
    case Value::Type::List: {
      const ListData& list = v.as_list();
      out += list.tuple ? '(' : '[';
      for (size_t i = 0; i < list.items.size(); ++i) {
        if (i > 0) out += ", ";
        repr_into(out, list.items[i], depth + 1);
      }
      if (list.tuple && list.items.size() == 1) out += ',';
      out += list.tuple ? ')' : ']';
      return;
    }
    case Value::Type::Dict: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : v.as_dict().entries) {
        if (!first) out += ", ";
        first = false;
        repr_string(out, key);
        out += ": ";
        repr_into(out, item, depth + 1);
      }
      out += '}';
      return;
    }
    case Value::Type::Object: {
      const ObjectData& object = v.as_object();
      if (object.type_name == "LoopContext") {
        const Value* index = object.find("index");
        const Value* length = object.find("length");
        out += fmt::format("<LoopContext {}/{}>", index ? to_str(*index) : "?", length ? to_str(*length) : "?");
        return;
      }
      out += "<" + object.type_name + " {";
      for (size_t i = 0; i < object.attrs.size(); ++i) {
        if (i > 0) out += ", ";
        repr_string(out, object.attrs[i].first);
        out += ": ";
        repr_into(out, object.attrs[i].second, depth + 1);
      }
      out += "}>";
      return;
    }
    case Value::Type::Function: out += "<function " + v.as_function().name + ">"; return;
    default: out += to_str(v);
  }
}

void json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    char32_t cp = pystr::decode(s, i);
    switch (cp) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (cp < 0x20 || (ensure_ascii && cp >= 0x7F)) {
          if (cp >= 0x10000) {
            char32_t v = cp - 0x10000;
            out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
          } else {
            out += fmt::format("\\u{:04x}", static_cast<uint32_t>(cp));
          }
        } else {
          out.append(s.substr(start, i - start));
        }
    }
  }
  out += '"';
}

struct JsonWriter {
  const JsonDumpOptions& options;
  std::string item_sep;
  std::string key_sep;
  std::string out;

  void newline(int level) {
    out += '\n';
    for (int i = 0; i < level; ++i) out += *options.indent;
  }

  template <typename Items, typename Emit>
  void container(char open, char close, const Items& items, int level, Emit emit) {
    out += open;
    if (items.empty()) {
      out += close;
      return;
    }
    if (options.indent) newline(level + 1);
    bool first = true;
    for (const auto& item : items) {
      if (!first) {
        out += item_sep;
        if (options.indent) newline(level + 1);
      }
      first = false;
      emit(item);
    }
    if (options.indent) newline(level);
    out += close;
  }

  void write(const Value& v, int level) {
    switch (v.type()) {
      case Value::Type::None: out += "null"; return;
      case Value::Type::Bool: out += v.as_bool() ? "true" : "false"; return;
      case Value::Type::Int: out += std::to_string(v.as_int()); return;
      case Value::Type::Float: {
        double d = v.as_double();
        out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : format_float(d);
        return;
      }
      case Value::Type::String: json_string(out, v.as_string(), options.ensure_ascii); return;
      case Value::Type::List:
        container('[', ']', v.as_list().items, level, [&](const Value& item) { write(item, level + 1); });
        return;
      case Value::Type::Dict: {
        std::vector<const std::pair<std::string, Value>*> entries;
        for (const auto& entry : v.as_dict().entries) entries.push_back(&entry);
        if (options.sort_keys) {
          std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
        }
        container('{', '}', entries, level, [&](const std::pair<std::string, Value>* entry) {
          json_string(out, entry->first, options.ensure_ascii);
          out += key_sep;
          write(entry->second, level + 1);
        });
        return;
      }
      default: fail("Object of type {} is not JSON serializable", type_name(v));
    }
  }
};

}  // namespace

Value Value::undefined(std::string hint) { return Value(Data(Undef{std::move(hint)})); }

std::string Value::undefined_hint() const {
  const std::string& hint = std::get<Undef>(data_).hint;
  return hint.empty() ? "value is undefined" : hint;
}

Value Value::list(std::vector<Value> items, bool tuple) {
  int depth = 0;
  for (const Value& item : items) depth = std::max(depth, item.depth());
  check_depth(depth + 1);
  return Value(Data(std::make_shared<const ListData>(ListData{std::move(items), tuple, depth + 1})));
}

Value Value::dict(std::vector<std::pair<std::string, Value>> entries) {
  int depth = 0;
  for (const auto& entry : entries) depth = std::max(depth, entry.second.depth());
  check_depth(depth + 1);
  return Value(Data(std::make_shared<const DictData>(DictData{std::move(entries), depth + 1})));
}

Value Value::object(std::shared_ptr<ObjectData> object) { return Value(Data(std::move(object))); }

Value Value::function(std::string name, std::function<Value(CallArgs&)> fn, int depth) {
  check_depth(depth);
  return Value(Data(std::make_shared<const FunctionData>(FunctionData{std::move(name), std::move(fn), depth})));
}

Value Value::from_json(const nlohmann::ordered_json& json) { return from_json_at(json, 1); }

int64_t Value::as_int() const {
  if (type() == Type::Bool) return as_bool() ? 1 : 0;
  return std::get<int64_t>(data_);
}

double Value::as_double() const {
  if (type() == Type::Float) return std::get<double>(data_);
  return static_cast<double>(as_int());
}

bool Value::same_as(const Value& other) const {
  if (type() != other.type()) return false;
  switch (type()) {
    case Type::Undefined: return false;
    case Type::List: return &as_list() == &other.as_list();
    case Type::Dict: return &as_dict() == &other.as_dict();
    case Type::Object: return &as_object() == &other.as_object();
    case Type::Function: return &as_function() == &other.as_function();
    default: return equals(*this, other);
  }
}

int Value::depth() const {
  switch (type()) {
    case Type::List: return as_list().depth;
    case Type::Dict: return as_dict().depth;
    case Type::Function: return as_function().depth;
    case Type::Object: return 1;
    default: return 0;
  }
}

const Value* DictData::find(std::string_view key) const {
  for (const auto& entry : entries) {
    if (entry.first == key) return &entry.second;
  }
  return nullptr;
}

const Value* ObjectData::find(std::string_view name) const {
  for (const auto& attr : attrs) {
    if (attr.first == name) return &attr.second;
  }
  return nullptr;
}

void ObjectData::set(const std::string& name, Value value) {
  for (auto& attr : attrs) {
    if (attr.first == name) {
      attr.second = std::move(value);
      return;
    }
  }
  attrs.emplace_back(name, std::move(value));
}

std::vector<Value> bind_args(std::string_view function, const CallArgs& args, std::initializer_list<Param> params) {
  if (args.positional.size() > params.size()) {
    fail("{}() takes at most {} argument(s) ({} given)", function, params.size(), args.positional.size());
  }
  std::vector<std::optional<Value>> bound(params.size());
  for (size_t i = 0; i < args.positional.size(); ++i) bound[i] = args.positional[i];
  for (const auto& [name, value] : args.keyword) {
    auto it = std::find_if(params.begin(), params.end(), [&](const Param& p) { return p.name == name; });
    if (it == params.end()) fail("{}() got an unexpected keyword argument '{}'", function, name);
    size_t index = static_cast<size_t>(it - params.begin());
    if (bound[index]) fail("{}() got multiple values for argument '{}'", function, name);
    bound[index] = value;
  }
  std::vector<Value> result;
  result.reserve(params.size());
  size_t i = 0;
  for (const Param& param : params) {
    if (bound[i]) {
      result.push_back(std::move(*bound[i]));
    } else if (param.default_value) {
      result.push_back(*param.default_value);
    } else {
      fail("{}() missing required argument '{}'", function, param.name);
    }
    ++i;
  }
  return result;
}

std::string type_name(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined: return "Undefined";
    case Value::Type::None: return "NoneType";
    case Value::Type::Bool: return "bool";
    case Value::Type::Int: return "int";
    case Value::Type::Float: return "float";
    case Value::Type::String: return "str";
    case Value::Type::List: return v.as_list().tuple ? "tuple" : "list";
    case Value::Type::Dict: return "dict";
    case Value::Type::Object: return v.as_object().type_name;
    case Value::Type::Function: return "function";
  }
  return "object";
}

bool truthy(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined:
    case Value::Type::None: return false;
    case Value::Type::Bool: return v.as_bool();
    case Value::Type::Int: return v.as_int() != 0;
    case Value::Type::Float: return v.as_double() != 0;
    case Value::Type::String: return !v.as_string().empty();
    case Value::Type::List: return !v.as_list().items.empty();
    case Value::Type::Dict: return !v.as_dict().entries.empty();
    default: return true;
  }
}

std::string format_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  // Shortest round-trip digits, laid out the way CPython's float repr does.
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof buf, std::fabs(d), std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(result.ptr - buf));
  size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits += c;
  }
  int exponent = std::atoi(std::string(sci.substr(e + 1)).c_str());
  std::string out = std::signbit(d) ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    int point = exponent + 1;  // digits before the decimal point
    if (point <= 0) {
      out += "0." + std::string(static_cast<size_t>(-point), '0') + digits;
    } else if (static_cast<size_t>(point) >= digits.size()) {
      out += digits + std::string(static_cast<size_t>(point) - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(point)) + "." + digits.substr(static_cast<size_t>(point));
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  out += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out;
}

std::string to_str(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined: return "";
    case Value::Type::None: return "None";
    case Value::Type::Bool: return v.as_bool() ? "True" : "False";
    case Value::Type::Int: return std::to_string(v.as_int());
    case Value::Type::Float: return format_float(v.as_double());
    case Value::Type::String: return v.as_string();
    default: return repr(v);
  }
}

std::string repr(const Value& v) {
  std::string out;
  repr_into(out, v, 0);
  return out;
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) return a.as_int() == b.as_int();
    return a.as_double() == b.as_double();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::Undefined:
    case Value::Type::None: return true;
    case Value::Type::String: return a.as_string() == b.as_string();
    case Value::Type::List: {
      const ListData& x = a.as_list();
      const ListData& y = b.as_list();
      if (x.tuple != y.tuple || x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i) {
        if (!equals(x.items[i], y.items[i])) return false;
      }
      return true;
    }
    case Value::Type::Dict: {
      const DictData& x = a.as_dict();
      const DictData& y = b.as_dict();
      if (x.entries.size() != y.entries.size()) return false;
      for (const auto& [key, item] : x.entries) {
        const Value* other = y.find(key);
        if (!other || !equals(item, *other)) return false;
      }
      return true;
    }
    default: return a.same_as(b);
  }
}

int compare(const Value& a, const Value& b, std::string_view op) {
  if (a.is_undefined()) fail("{}", a.undefined_hint());
  if (b.is_undefined()) fail("{}", b.undefined_hint());
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int() ? 1 : 0;
    double x = a.as_double(), y = b.as_double();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_list() && b.is_list() && a.as_list().tuple == b.as_list().tuple) {
    const auto& x = a.as_list().items;
    const auto& y = b.as_list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals(x[i], y[i])) return compare(x[i], y[i], op);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  fail("'{}' not supported between instances of '{}' and '{}'", op, type_name(a), type_name(b));
}

bool contains(const Value& container, const Value& item) {
  switch (container.type()) {
    case Value::Type::Undefined: return false;
    case Value::Type::String:
      if (!item.is_string()) fail("'in <string>' requires string as left operand, not {}", type_name(item));
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Type::List:
      return std::any_of(container.as_list().items.begin(), container.as_list().items.end(),
                         [&](const Value& x) { return equals(x, item); });
    case Value::Type::Dict: return item.is_string() && container.as_dict().find(item.as_string()) != nullptr;
    default: fail("argument of type '{}' is not iterable", type_name(container));
  }
}

std::vector<Value> iterate(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined: return {};
    case Value::Type::List: return v.as_list().items;
    case Value::Type::Dict: {
      std::vector<Value> keys;
      keys.reserve(v.as_dict().entries.size());
      for (const auto& entry : v.as_dict().entries) keys.push_back(Value::string(entry.first));
      return keys;
    }
    case Value::Type::String: {
      std::vector<Value> chars;
      const std::string& s = v.as_string();
      for (size_t i = 0; i < s.size();) {
        size_t start = i;
        pystr::decode(s, i);
        chars.push_back(Value::string(s.substr(start, i - start)));
      }
      return chars;
    }
    default: fail("'{}' object is not iterable", type_name(v));
  }
}

std::string json_dumps(const Value& v, const JsonDumpOptions& options) {
  JsonWriter writer{options, {}, {}, {}};
  if (options.separators) {
    writer.item_sep = options.separators->first;
    writer.key_sep = options.separators->second;
  } else {
    writer.item_sep = options.indent ? "," : ", ";
    writer.key_sep = ": ";
  }
  writer.write(v, 0);
  return std::move(writer.out);
}

}  // namespace dseek::jinja
