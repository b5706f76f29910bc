// Values of the Jinja interpreter, with Python's semantics: the chat templates were written against
// Jinja2 on CPython, and byte-exact prompts depend on str(), repr(), json.dumps and Python arithmetic.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace dseek::jinja {

class Value;
struct ListData;
struct DictData;
struct ObjectData;
struct FunctionData;
struct CallArgs;

// Containers record their nesting depth so that building one deeper than this fails up front;
// every recursive walk over values (repr, json, equality, destruction) is then bounded.
inline constexpr int kMaxNesting = 512;

class Value {
 public:
  enum class Type { Undefined, None, Bool, Int, Float, String, List, Dict, Object, Function };

  Value() : data_(Undef{}) {}
  // hint is the message an operation on this undefined value fails with ("'x' is undefined").
  static Value undefined(std::string hint);
  static Value none() { return Value(Data(nullptr)); }
  static Value boolean(bool b) { return Value(Data(b)); }
  static Value integer(int64_t i) { return Value(Data(i)); }
  static Value number(double d) { return Value(Data(d)); }
  static Value string(std::string s) { return Value(Data(std::move(s))); }
  static Value list(std::vector<Value> items, bool tuple = false);
  static Value dict(std::vector<std::pair<std::string, Value>> entries);
  static Value object(std::shared_ptr<ObjectData> object);
  static Value function(std::string name, std::function<Value(CallArgs&)> fn, int depth = 1);
  static Value from_json(const nlohmann::ordered_json& json);

  Type type() const { return static_cast<Type>(data_.index()); }
  bool is_undefined() const { return type() == Type::Undefined; }
  bool is_none() const { return type() == Type::None; }
  bool is_string() const { return type() == Type::String; }
  bool is_list() const { return type() == Type::List; }
  bool is_dict() const { return type() == Type::Dict; }
  // Python's int includes bool.
  bool is_integral() const { return type() == Type::Int || type() == Type::Bool; }
  bool is_number() const { return is_integral() || type() == Type::Float; }

  bool as_bool() const { return std::get<bool>(data_); }
  // Valid for Int and Bool.
  int64_t as_int() const;
  // Valid for any number.
  double as_double() const;
  const std::string& as_string() const { return std::get<std::string>(data_); }
  const ListData& as_list() const { return *std::get<std::shared_ptr<const ListData>>(data_); }
  const DictData& as_dict() const { return *std::get<std::shared_ptr<const DictData>>(data_); }
  ObjectData& as_object() const { return *std::get<std::shared_ptr<ObjectData>>(data_); }
  const FunctionData& as_function() const { return *std::get<std::shared_ptr<const FunctionData>>(data_); }
  std::string undefined_hint() const;

  // Python's `is`: the same object (scalars compare by value).
  bool same_as(const Value& other) const;
  int depth() const;

 private:
  struct Undef {
    std::string hint;
  };
  using Data =
      std::variant<Undef, std::nullptr_t, bool, int64_t, double, std::string, std::shared_ptr<const ListData>,
                   std::shared_ptr<const DictData>, std::shared_ptr<ObjectData>, std::shared_ptr<const FunctionData>>;
  explicit Value(Data data) : data_(std::move(data)) {}
  Data data_;
};

struct ListData {
  std::vector<Value> items;
  bool tuple = false;
  int depth = 1;
};

// Insertion-ordered like Python's dict; keys are strings (all that JSON and chat templates use).
struct DictData {
  std::vector<std::pair<std::string, Value>> entries;
  int depth = 1;
  const Value* find(std::string_view key) const;
};

// Mutable attribute bags: Jinja's namespace() and the loop variable.
struct ObjectData {
  std::string type_name;
  std::vector<std::pair<std::string, Value>> attrs;
  const Value* find(std::string_view name) const;
  void set(const std::string& name, Value value);
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

struct Param {
  std::string_view name;
  std::optional<Value> default_value;  // absent: the argument is required
};
// Binds arguments the way Python calls a function with these parameters: positional ones first,
// then keywords; fails on surplus, unknown, repeated or missing arguments.
std::vector<Value> bind_args(std::string_view function, const CallArgs& args, std::initializer_list<Param> params);

struct FunctionData {
  std::string name;
  std::function<Value(CallArgs&)> fn;
  int depth = 1;
};

// Python's type names, for error messages ("'int' object is not iterable").
std::string type_name(const Value& v);
// Python's bool().
bool truthy(const Value& v);
// Python's str(); undefined prints as ''.
std::string to_str(const Value& v);
std::string repr(const Value& v);
// Python's repr() of a float.
std::string format_float(double d);
// Python's ==.
bool equals(const Value& a, const Value& b);
// Python's ordering (<0, 0, >0); fails where Python raises TypeError, naming op in the message.
int compare(const Value& a, const Value& b, std::string_view op = "<");
// Python's `item in container`.
bool contains(const Value& container, const Value& item);
// The items a Python for loop over v would see: list items, dict keys, string characters.
std::vector<Value> iterate(const Value& v);

struct JsonDumpOptions {
  // Python's json.dumps arguments; indent set means pretty-printing with that per-level prefix.
  std::optional<std::string> indent;
  std::optional<std::pair<std::string, std::string>> separators;
  bool sort_keys = false;
  bool ensure_ascii = false;
};
// Python's json.dumps, byte for byte.
std::string json_dumps(const Value& v, const JsonDumpOptions& options);

}  // namespace dseek::jinja
