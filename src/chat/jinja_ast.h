// The parsed form of a template. Nodes evaluate themselves (jinja_eval.cpp); each records the byte
// offset it was parsed from so that runtime errors can name a line and column.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_builtins.h"
#include "chat/jinja_ops.h"
#include "chat/jinja_value.h"

namespace dseek::jinja {

struct Frame;

struct Expr {
  explicit Expr(size_t pos) : pos(pos) {}
  virtual ~Expr() = default;
  // Evaluates the node; an error that carries no location yet gets this node's.
  Value evaluate(Frame& frame) const;
  size_t pos;

 protected:
  virtual Value eval(Frame& frame) const = 0;
};
using ExprPtr = std::unique_ptr<Expr>;

struct Arguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
};

struct Literal : Expr {
  Literal(size_t pos, Value value) : Expr(pos), value(std::move(value)) {}
  Value value;
  Value eval(Frame& frame) const override;
};

struct Name : Expr {
  Name(size_t pos, std::string name) : Expr(pos), name(std::move(name)) {}
  std::string name;
  Value eval(Frame& frame) const override;
};

struct ListLiteral : Expr {
  ListLiteral(size_t pos, std::vector<ExprPtr> items, bool tuple) : Expr(pos), items(std::move(items)), tuple(tuple) {}
  std::vector<ExprPtr> items;
  bool tuple;
  Value eval(Frame& frame) const override;
};

struct DictLiteral : Expr {
  using Expr::Expr;
  std::vector<std::pair<ExprPtr, ExprPtr>> entries;
  Value eval(Frame& frame) const override;
};

struct GetAttr : Expr {
  GetAttr(size_t pos, ExprPtr object, std::string name) : Expr(pos), object(std::move(object)), name(std::move(name)) {}
  ExprPtr object;
  std::string name;
  Value eval(Frame& frame) const override;
};

struct GetItem : Expr {
  GetItem(size_t pos, ExprPtr object, ExprPtr index) : Expr(pos), object(std::move(object)), index(std::move(index)) {}
  ExprPtr object;
  ExprPtr index;
  Value eval(Frame& frame) const override;
};

struct Slice : Expr {
  using Expr::Expr;
  ExprPtr object;
  ExprPtr start, stop, step;  // each may be null
  Value eval(Frame& frame) const override;
};

struct Call : Expr {
  using Expr::Expr;
  ExprPtr callee;
  Arguments args;
  Value eval(Frame& frame) const override;
};

struct FilterCall {
  size_t pos = 0;
  std::string name;
  FilterFn fn = nullptr;
  Arguments args;
};

struct FilterExpr : Expr {
  FilterExpr(size_t pos, ExprPtr input, FilterCall filter)
      : Expr(pos), input(std::move(input)), filter(std::move(filter)) {}
  ExprPtr input;
  FilterCall filter;
  Value eval(Frame& frame) const override;
};

struct TestExpr : Expr {
  using Expr::Expr;
  ExprPtr input;
  std::string name;
  TestFn fn = nullptr;
  Arguments args;
  Value eval(Frame& frame) const override;
};

struct Unary : Expr {
  enum class Op { Not, Neg, Pos };
  Unary(size_t pos, Op op, ExprPtr operand) : Expr(pos), op(op), operand(std::move(operand)) {}
  Op op;
  ExprPtr operand;
  Value eval(Frame& frame) const override;
};

struct Binary : Expr {
  Binary(size_t pos, BinaryOp op, ExprPtr lhs, ExprPtr rhs)
      : Expr(pos), op(op), lhs(std::move(lhs)), rhs(std::move(rhs)) {}
  BinaryOp op;
  ExprPtr lhs, rhs;
  Value eval(Frame& frame) const override;
};

struct Logical : Expr {
  Logical(size_t pos, bool is_and, ExprPtr lhs, ExprPtr rhs)
      : Expr(pos), is_and(is_and), lhs(std::move(lhs)), rhs(std::move(rhs)) {}
  bool is_and;
  ExprPtr lhs, rhs;
  Value eval(Frame& frame) const override;
};

struct Compare : Expr {
  enum class Op { Eq, Ne, Lt, Le, Gt, Ge, In, NotIn };
  using Expr::Expr;
  ExprPtr first;
  std::vector<std::pair<Op, ExprPtr>> rest;
  Value eval(Frame& frame) const override;
};

struct Conditional : Expr {
  using Expr::Expr;
  ExprPtr condition, then;
  ExprPtr otherwise;  // may be null: the result is then undefined
  Value eval(Frame& frame) const override;
};

struct Stmt {
  explicit Stmt(size_t pos) : pos(pos) {}
  virtual ~Stmt() = default;
  void execute(Frame& frame) const;
  size_t pos;

 protected:
  virtual void exec(Frame& frame) const = 0;
};
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct TextStmt : Stmt {
  TextStmt(size_t pos, std::string text) : Stmt(pos), text(std::move(text)) {}
  std::string text;
  void exec(Frame& frame) const override;
};

struct OutputStmt : Stmt {
  OutputStmt(size_t pos, ExprPtr expr) : Stmt(pos), expr(std::move(expr)) {}
  ExprPtr expr;
  void exec(Frame& frame) const override;
};

struct IfStmt : Stmt {
  using Stmt::Stmt;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body otherwise;
  void exec(Frame& frame) const override;
};

// Names bound by for and set: one name, or several unpacked from a sequence.
struct Target {
  std::vector<std::string> names;
  bool unpack = false;
};

struct ForStmt : Stmt {
  using Stmt::Stmt;
  Target target;
  ExprPtr iterable;
  ExprPtr filter;  // `for x in xs if cond`; may be null
  Body body, otherwise;
  void exec(Frame& frame) const override;
};

struct SetStmt : Stmt {
  using Stmt::Stmt;
  Target target;
  ExprPtr value;
  void exec(Frame& frame) const override;
};

struct SetAttrStmt : Stmt {
  using Stmt::Stmt;
  std::string object, attr;
  ExprPtr value;
  void exec(Frame& frame) const override;
};

struct SetBlockStmt : Stmt {
  using Stmt::Stmt;
  std::string name;
  std::vector<FilterCall> filters;
  Body body;
  void exec(Frame& frame) const override;
};

struct MacroStmt : Stmt {
  using Stmt::Stmt;
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;  // default may be null
  // Jinja only accepts surplus arguments when the body refers to varargs / kwargs.
  bool uses_varargs = false, uses_kwargs = false;
  Body body;
  void exec(Frame& frame) const override;
};

struct FilterBlockStmt : Stmt {
  using Stmt::Stmt;
  std::vector<FilterCall> filters;
  Body body;
  void exec(Frame& frame) const override;
};

struct WithStmt : Stmt {
  using Stmt::Stmt;
  std::vector<std::pair<std::string, ExprPtr>> assignments;
  Body body;
  void exec(Frame& frame) const override;
};

struct LoopControlStmt : Stmt {
  LoopControlStmt(size_t pos, bool is_break) : Stmt(pos), is_break(is_break) {}
  bool is_break;
  void exec(Frame& frame) const override;
};

}  // namespace dseek::jinja
