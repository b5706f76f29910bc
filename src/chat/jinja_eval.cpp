#include "chat/jinja_eval.h"

#include <algorithm>
#include <ctime>

#include "chat/jinja_error.h"
#include "chat/jinja_ops.h"
#include "util/error.h"

namespace dseek::jinja {

namespace {

// Nesting of evaluation (expressions, statements, macro calls): bounds stack use.
constexpr int kMaxEvalDepth = 1000;

}  // namespace

// Variables of one level: the globals, the context, a loop iteration, a macro call.
struct Scope {
  explicit Scope(std::shared_ptr<Scope> parent) : parent(std::move(parent)) {}
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> vars;

  const Value* find(std::string_view name) const {
    for (const Scope* s = this; s; s = s->parent.get()) {
      for (const auto& var : s->vars) {
        if (var.first == name) return &var.second;
      }
    }
    return nullptr;
  }

  void set(const std::string& name, Value value) {
    for (auto& var : vars) {
      if (var.first == name) {
        var.second = std::move(value);
        return;
      }
    }
    vars.emplace_back(name, std::move(value));
  }
};

struct RenderState {
  explicit RenderState(const RenderOptions& options) : options(options) {}
  // Namespaces and loop objects are mutable and may refer to each other; emptying them all at the
  // end frees any reference cycles among them.
  ~RenderState() {
    for (auto& object : objects) object->attrs.clear();
  }
  std::shared_ptr<ObjectData> new_object(std::string type_name) {
    auto object = std::make_shared<ObjectData>();
    object->type_name = std::move(type_name);
    objects.push_back(object);
    return object;
  }
  void step() {
    if (++steps > options.max_steps) fail("template ran more than {} steps", options.max_steps);
  }

  const RenderOptions& options;
  uint64_t steps = 0;
  int depth = 0;
  std::vector<std::shared_ptr<ObjectData>> objects;
};

struct Frame {
  enum class Flow { Normal, Break, Continue };
  RenderState& state;
  std::shared_ptr<Scope> scope;
  std::string* out;
  Flow flow = Flow::Normal;
};

namespace {

class DepthGuard {
 public:
  explicit DepthGuard(RenderState& state) : state_(state) {
    if (++state_.depth > kMaxEvalDepth) {
      --state_.depth;
      fail("maximum recursion depth exceeded");
    }
  }
  ~DepthGuard() { --state_.depth; }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;

 private:
  RenderState& state_;
};

void append_output(std::string& out, std::string_view text) {
  if (out.size() + text.size() > kMaxResultSize) fail("output larger than {} bytes", kMaxResultSize);
  out += text;
}

void exec_body(const Body& body, Frame& frame) {
  for (const auto& stmt : body) {
    stmt->execute(frame);
    if (frame.flow != Frame::Flow::Normal) return;
  }
}

std::string render_to_string(const Body& body, Frame& frame) {
  std::string out;
  Frame inner{frame.state, frame.scope, &out};
  exec_body(body, inner);
  frame.flow = inner.flow;
  return out;
}

CallArgs evaluate_args(const Arguments& args, Frame& frame) {
  CallArgs call;
  for (const auto& arg : args.positional) call.positional.push_back(arg->evaluate(frame));
  for (const auto& [name, arg] : args.keyword) call.keyword.emplace_back(name, arg->evaluate(frame));
  return call;
}

Value apply_filter(const FilterCall& filter, Value input, Frame& frame) {
  CallArgs args = evaluate_args(filter.args, frame);
  try {
    return filter.fn(input, args);
  } catch (const SourceError&) {
    throw;
  } catch (const Error& e) {
    throw SourceError(filter.pos, e.what());
  }
}

void bind_target(const Target& target, const Value& value, Scope& scope) {
  if (!target.unpack) {
    scope.set(target.names[0], value);
    return;
  }
  if (value.is_undefined()) fail("{}", value.undefined_hint());
  std::vector<Value> items = iterate(value);
  if (items.size() < target.names.size()) {
    fail("not enough values to unpack (expected {}, got {})", target.names.size(), items.size());
  }
  if (items.size() > target.names.size()) fail("too many values to unpack (expected {})", target.names.size());
  for (size_t i = 0; i < items.size(); ++i) scope.set(target.names[i], items[i]);
}

Value call_macro(const MacroStmt& macro, RenderState& state, const std::weak_ptr<Scope>& closure, CallArgs& args) {
  std::shared_ptr<Scope> parent = closure.lock();
  if (!parent) fail("macro '{}' called after the block defining it ended", macro.name);
  auto scope = std::make_shared<Scope>(parent);
  const auto& params = macro.params;
  if (args.positional.size() > params.size() && !macro.uses_varargs) {
    fail("macro '{}' takes not more than {} argument(s)", macro.name, params.size());
  }
  std::vector<bool> bound(params.size(), false);
  for (size_t i = 0; i < args.positional.size() && i < params.size(); ++i) {
    scope->set(params[i].first, args.positional[i]);
    bound[i] = true;
  }
  std::vector<std::pair<std::string, Value>> extra_keywords;
  for (auto& [name, value] : args.keyword) {
    auto it = std::find_if(params.begin(), params.end(), [&](const auto& p) { return p.first == name; });
    if (it == params.end()) {
      if (!macro.uses_kwargs) fail("macro '{}' takes no keyword argument '{}'", macro.name, name);
      extra_keywords.emplace_back(name, value);
      continue;
    }
    size_t index = static_cast<size_t>(it - params.begin());
    if (bound[index]) fail("macro '{}' got multiple values for argument '{}'", macro.name, name);
    scope->set(name, value);
    bound[index] = true;
  }
  std::string out;
  Frame frame{state, scope, &out};
  for (size_t i = 0; i < params.size(); ++i) {
    if (bound[i]) continue;
    scope->set(params[i].first,
               params[i].second ? params[i].second->evaluate(frame)
                                : Value::undefined(fmt::format("parameter '{}' was not provided", params[i].first)));
  }
  std::vector<Value> extra_positional;
  if (args.positional.size() > params.size()) {
    extra_positional.assign(args.positional.begin() + static_cast<ptrdiff_t>(params.size()), args.positional.end());
  }
  scope->set("varargs", Value::list(std::move(extra_positional), true));
  scope->set("kwargs", Value::dict(std::move(extra_keywords)));
  exec_body(macro.body, frame);
  return Value::string(std::move(out));
}

std::string strftime_now(const RenderOptions& options, const std::string& format) {
  std::tm now{};
  if (options.now) {
    now = options.now();
  } else {
    std::time_t t = std::time(nullptr);
    localtime_r(&t, &now);
  }
  if (format.empty()) return "";
  for (size_t size = 256; size <= 65536; size *= 4) {
    std::string buf(size, '\0');
    size_t n = std::strftime(buf.data(), buf.size(), format.c_str(), &now);
    if (n > 0) return buf.substr(0, n);
  }
  return "";
}

void add_globals(Scope& scope, RenderState& state) {
  scope.set("range", Value::function("range", builtin_range));
  scope.set("dict", Value::function("dict", builtin_dict));
  scope.set("namespace", Value::function("namespace", [&state](CallArgs& args) {
              if (args.positional.size() > 1) fail("namespace() takes at most 1 positional argument");
              auto object = state.new_object("Namespace");
              if (!args.positional.empty()) {
                if (!args.positional[0].is_dict()) fail("namespace() argument must be a mapping");
                for (const auto& [key, value] : args.positional[0].as_dict().entries) object->set(key, value);
              }
              for (const auto& [key, value] : args.keyword) object->set(key, value);
              return Value::object(object);
            }));
  scope.set("raise_exception", Value::function("raise_exception", [](CallArgs& args) -> Value {
              auto v = bind_args("raise_exception", args, {{"message", std::nullopt}});
              fail("{}", to_str(v[0]));
            }));
  scope.set("strftime_now", Value::function("strftime_now", [&state](CallArgs& args) {
              auto v = bind_args("strftime_now", args, {{"format", std::nullopt}});
              if (!v[0].is_string()) fail("strftime_now() format must be a string");
              return Value::string(strftime_now(state.options, v[0].as_string()));
            }));
}

}  // namespace

Value Expr::evaluate(Frame& frame) const {
  try {
    DepthGuard guard(frame.state);
    return eval(frame);
  } catch (const SourceError&) {
    throw;
  } catch (const Error& e) {
    throw SourceError(pos, e.what());
  }
}

void Stmt::execute(Frame& frame) const {
  try {
    DepthGuard guard(frame.state);
    frame.state.step();
    exec(frame);
  } catch (const SourceError&) {
    throw;
  } catch (const Error& e) {
    throw SourceError(pos, e.what());
  }
}

Value Literal::eval(Frame&) const { return value; }

Value Name::eval(Frame& frame) const {
  const Value* value = frame.scope->find(name);
  return value ? *value : Value::undefined(fmt::format("'{}' is undefined", name));
}

Value ListLiteral::eval(Frame& frame) const {
  std::vector<Value> values;
  values.reserve(items.size());
  for (const auto& item : items) values.push_back(item->evaluate(frame));
  return Value::list(std::move(values), tuple);
}

Value DictLiteral::eval(Frame& frame) const {
  std::vector<std::pair<std::string, Value>> values;
  for (const auto& [key_expr, value_expr] : entries) {
    Value key = key_expr->evaluate(frame);
    if (!key.is_string()) fail("dict keys must be strings, not {}", type_name(key));
    Value value = value_expr->evaluate(frame);
    auto it = std::find_if(values.begin(), values.end(), [&](const auto& e) { return e.first == key.as_string(); });
    if (it != values.end()) {
      it->second = std::move(value);
    } else {
      values.emplace_back(key.as_string(), std::move(value));
    }
  }
  return Value::dict(std::move(values));
}

Value GetAttr::eval(Frame& frame) const { return get_attr(object->evaluate(frame), name); }

Value GetItem::eval(Frame& frame) const {
  Value container = object->evaluate(frame);
  return get_item(container, index->evaluate(frame));
}

Value Slice::eval(Frame& frame) const {
  Value container = object->evaluate(frame);
  Value a = start ? start->evaluate(frame) : Value();
  Value b = stop ? stop->evaluate(frame) : Value();
  Value c = step ? step->evaluate(frame) : Value();
  return slice(container, a, b, c);
}

Value Call::eval(Frame& frame) const {
  Value function = callee->evaluate(frame);
  if (function.is_undefined()) fail("{}", function.undefined_hint());
  if (function.type() != Value::Type::Function) fail("'{}' object is not callable", type_name(function));
  CallArgs call = evaluate_args(args, frame);
  return function.as_function().fn(call);
}

Value FilterExpr::eval(Frame& frame) const { return apply_filter(filter, input->evaluate(frame), frame); }

Value TestExpr::eval(Frame& frame) const {
  Value value = input->evaluate(frame);
  CallArgs call = evaluate_args(args, frame);
  return Value::boolean(fn(value, call));
}

Value Unary::eval(Frame& frame) const {
  Value value = operand->evaluate(frame);
  switch (op) {
    case Op::Not: return Value::boolean(!truthy(value));
    case Op::Neg: return negate(value);
    case Op::Pos: return unary_plus(value);
  }
  return value;
}

Value Binary::eval(Frame& frame) const {
  Value a = lhs->evaluate(frame);
  Value b = rhs->evaluate(frame);
  return binary_op(op, a, b);
}

Value Logical::eval(Frame& frame) const {
  Value left = lhs->evaluate(frame);
  if (truthy(left) != is_and) return left;
  return rhs->evaluate(frame);
}

Value Compare::eval(Frame& frame) const {
  Value left = first->evaluate(frame);
  for (const auto& [op, expr] : rest) {
    Value right = expr->evaluate(frame);
    bool result = false;
    switch (op) {
      case Op::Eq: result = equals(left, right); break;
      case Op::Ne: result = !equals(left, right); break;
      case Op::Lt: result = compare(left, right, "<") < 0; break;
      case Op::Le: result = compare(left, right, "<=") <= 0; break;
      case Op::Gt: result = compare(left, right, ">") > 0; break;
      case Op::Ge: result = compare(left, right, ">=") >= 0; break;
      case Op::In: result = contains(right, left); break;
      case Op::NotIn: result = !contains(right, left); break;
    }
    if (!result) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Value Conditional::eval(Frame& frame) const {
  if (truthy(condition->evaluate(frame))) return then->evaluate(frame);
  if (otherwise) return otherwise->evaluate(frame);
  return Value::undefined("the inline if-expression evaluated to false and has no else section");
}

void TextStmt::exec(Frame& frame) const { append_output(*frame.out, text); }

void OutputStmt::exec(Frame& frame) const { append_output(*frame.out, to_str(expr->evaluate(frame))); }

void IfStmt::exec(Frame& frame) const {
  for (const auto& [condition, body] : branches) {
    if (truthy(condition->evaluate(frame))) {
      exec_body(body, frame);
      return;
    }
  }
  exec_body(otherwise, frame);
}

void ForStmt::exec(Frame& frame) const {
  std::vector<Value> items = iterate(iterable->evaluate(frame));
  if (filter) {
    std::vector<Value> kept;
    for (Value& item : items) {
      frame.state.step();
      auto scope = std::make_shared<Scope>(frame.scope);
      bind_target(target, item, *scope);
      Frame test{frame.state, scope, frame.out};
      if (truthy(filter->evaluate(test))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    exec_body(otherwise, frame);
    return;
  }
  auto loop = frame.state.new_object("LoopContext");
  int64_t length = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < length; ++i) {
    frame.state.step();
    auto scope = std::make_shared<Scope>(frame.scope);
    const Value& item = items[static_cast<size_t>(i)];
    bind_target(target, item, *scope);
    loop->set("index", Value::integer(i + 1));
    loop->set("index0", Value::integer(i));
    loop->set("revindex", Value::integer(length - i));
    loop->set("revindex0", Value::integer(length - i - 1));
    loop->set("first", Value::boolean(i == 0));
    loop->set("last", Value::boolean(i == length - 1));
    loop->set("length", Value::integer(length));
    loop->set("depth", Value::integer(1));
    loop->set("depth0", Value::integer(0));
    loop->set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("there is no previous item"));
    loop->set("nextitem",
              i + 1 < length ? items[static_cast<size_t>(i + 1)] : Value::undefined("there is no next item"));
    loop->set("cycle", Value::function("cycle", [i](CallArgs& args) {
                if (args.positional.empty()) fail("no items for cycling given");
                return args.positional[static_cast<size_t>(i) % args.positional.size()];
              }));
    scope->set("loop", Value::object(loop));
    Frame body_frame{frame.state, scope, frame.out};
    exec_body(body, body_frame);
    if (body_frame.flow == Frame::Flow::Break) break;
  }
}

void SetStmt::exec(Frame& frame) const { bind_target(target, value->evaluate(frame), *frame.scope); }

void SetAttrStmt::exec(Frame& frame) const {
  const Value* ns = frame.scope->find(object);
  if (!ns) fail("'{}' is undefined", object);
  if (ns->type() != Value::Type::Object || ns->as_object().type_name != "Namespace") {
    fail("cannot assign attribute on non-namespace object");
  }
  // Hold the namespace: evaluating the value may rebind the name.
  Value holder = *ns;
  holder.as_object().set(attr, value->evaluate(frame));
}

void SetBlockStmt::exec(Frame& frame) const {
  Value result = Value::string(render_to_string(body, frame));
  for (const FilterCall& filter : filters) result = apply_filter(filter, std::move(result), frame);
  frame.scope->set(name, std::move(result));
}

void MacroStmt::exec(Frame& frame) const {
  std::weak_ptr<Scope> closure = frame.scope;
  RenderState* state = &frame.state;
  const MacroStmt* macro = this;
  frame.scope->set(name, Value::function(name, [macro, state, closure](CallArgs& args) {
                     return call_macro(*macro, *state, closure, args);
                   }));
}

void FilterBlockStmt::exec(Frame& frame) const {
  Value result = Value::string(render_to_string(body, frame));
  for (const FilterCall& filter : filters) result = apply_filter(filter, std::move(result), frame);
  append_output(*frame.out, to_str(result));
}

void WithStmt::exec(Frame& frame) const {
  auto scope = std::make_shared<Scope>(frame.scope);
  for (const auto& [name, expr] : assignments) scope->set(name, expr->evaluate(frame));
  Frame inner{frame.state, scope, frame.out};
  exec_body(body, inner);
  frame.flow = inner.flow;
}

void LoopControlStmt::exec(Frame& frame) const { frame.flow = is_break ? Frame::Flow::Break : Frame::Flow::Continue; }

std::string render_body(const Body& body, const nlohmann::ordered_json& context, const RenderOptions& options) {
  if (!context.is_object()) fail("template context must be a JSON object, not {}", context.type_name());
  RenderState state(options);
  auto globals = std::make_shared<Scope>(nullptr);
  add_globals(*globals, state);
  auto scope = std::make_shared<Scope>(globals);
  for (const auto& [key, value] : context.items()) scope->set(key, Value::from_json(value));
  std::string out;
  Frame frame{state, scope, &out};
  exec_body(body, frame);
  return out;
}

}  // namespace dseek::jinja
