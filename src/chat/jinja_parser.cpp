#include "chat/jinja_parser.h"

#include <algorithm>
#include <initializer_list>

#include "chat/jinja_error.h"
#include "chat/jinja_lexer.h"

namespace dseek::jinja {

namespace {

// Parsing recurses once per nesting level of expressions and blocks.
constexpr int kMaxParseDepth = 200;

std::string describe(const Token& t) {
  switch (t.kind) {
    case TokenKind::Text: return "template text";
    case TokenKind::VariableBegin: return "'{{'";
    case TokenKind::VariableEnd: return "end of print statement";
    case TokenKind::BlockBegin: return "'{%'";
    case TokenKind::BlockEnd: return "end of statement block";
    case TokenKind::Name:
    case TokenKind::Operator: return fmt::format("'{}'", t.text);
    case TokenKind::String: return "string";
    case TokenKind::Integer: return "integer";
    case TokenKind::Float: return "float";
    case TokenKind::End: return "end of template";
  }
  return "token";
}

std::string quoted_list(std::initializer_list<std::string_view> names) {
  std::string out;
  size_t i = 0;
  for (std::string_view name : names) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += fmt::format("'{}'", name);
    ++i;
  }
  return out;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Body parse() { return subparse({}, "", 0); }

 private:
  std::vector<Token> tokens_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  std::vector<MacroStmt*> macros_;

  struct DepthGuard {
    DepthGuard(Parser& p, size_t pos) : parser(p) {
      if (++parser.depth_ > kMaxParseDepth) fail_at(pos, "template nested more than {} levels deep", kMaxParseDepth);
    }
    ~DepthGuard() { --parser.depth_; }
    Parser& parser;
  };

  const Token& cur() const { return tokens_[i_]; }
  const Token& peek(size_t n) const { return tokens_[std::min(i_ + n, tokens_.size() - 1)]; }
  void next() {
    if (i_ + 1 < tokens_.size()) ++i_;
  }
  bool at_op(std::string_view op) const { return cur().kind == TokenKind::Operator && cur().text == op; }
  bool at_name(std::string_view name) const { return cur().kind == TokenKind::Name && cur().text == name; }

  [[noreturn]] void unexpected(std::string_view expected) const {
    fail_at(cur().pos, "unexpected {}, expected {}", describe(cur()), expected);
  }
  void expect_op(std::string_view op) {
    if (!at_op(op)) unexpected(fmt::format("'{}'", op));
    next();
  }
  std::string expect_name() {
    if (cur().kind != TokenKind::Name) unexpected("a name");
    std::string name = cur().text;
    next();
    return name;
  }
  void expect_block_end() {
    if (cur().kind != TokenKind::BlockEnd) unexpected("end of statement block");
    next();
  }
  void expect_keyword(std::string_view name) {
    if (!at_name(name)) unexpected(fmt::format("'{}'", name));
    next();
  }

  // Statements up to a tag named in `ends`, which is left as the current token. opener/opener_pos
  // name the block being closed, for the error when the template ends first.
  Body subparse(std::initializer_list<std::string_view> ends, std::string_view opener, size_t opener_pos) {
    Body body;
    while (true) {
      const Token& t = cur();
      switch (t.kind) {
        case TokenKind::Text:
          body.push_back(std::make_unique<TextStmt>(t.pos, t.text));
          next();
          break;
        case TokenKind::VariableBegin: {
          size_t pos = t.pos;
          next();
          ExprPtr expr = parse_tuple(true, false);
          if (cur().kind != TokenKind::VariableEnd) unexpected("end of print statement");
          next();
          body.push_back(std::make_unique<OutputStmt>(pos, std::move(expr)));
          break;
        }
        case TokenKind::BlockBegin: {
          size_t tag_pos = t.pos;
          next();
          if (cur().kind == TokenKind::Name &&
              std::find(ends.begin(), ends.end(), std::string_view(cur().text)) != ends.end()) {
            return body;
          }
          parse_statement(body, tag_pos);
          break;
        }
        case TokenKind::End:
          if (ends.size() > 0) fail_at(opener_pos, "'{}' is never closed: expected {}", opener, quoted_list(ends));
          return body;
        default: unexpected("template text or a tag");
      }
    }
  }

  // The statement whose tag opens at pos (its "{%"), through its closing tag.
  void parse_statement(Body& body, size_t pos) {
    DepthGuard guard(*this, pos);
    if (cur().kind != TokenKind::Name) unexpected("a statement name");
    std::string tag = cur().text;
    next();
    if (tag == "if") {
      body.push_back(parse_if(pos));
    } else if (tag == "for") {
      body.push_back(parse_for(pos));
    } else if (tag == "set") {
      body.push_back(parse_set(pos));
    } else if (tag == "macro") {
      body.push_back(parse_macro(pos));
    } else if (tag == "filter") {
      auto node = std::make_unique<FilterBlockStmt>(pos);
      node->filters = parse_filter_chain();
      expect_block_end();
      node->body = subparse({"endfilter"}, "filter", pos);
      next();
      expect_block_end();
      body.push_back(std::move(node));
    } else if (tag == "with") {
      body.push_back(parse_with(pos));
    } else if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) fail_at(pos, "'{}' outside of a loop", tag);
      expect_block_end();
      body.push_back(std::make_unique<LoopControlStmt>(pos, tag == "break"));
    } else if (tag == "generation") {
      // transformers' marker for assistant tokens: renders its body unchanged.
      expect_block_end();
      Body inner = subparse({"endgeneration"}, "generation", pos);
      next();
      expect_block_end();
      for (auto& stmt : inner) body.push_back(std::move(stmt));
    } else if (tag == "call" || tag == "include" || tag == "import" || tag == "from" || tag == "extends" ||
               tag == "block") {
      fail_at(pos, "'{}' tags are not supported", tag);
    } else if (tag.starts_with("end") || tag == "else" || tag == "elif") {
      fail_at(pos, "unexpected '{}' tag", tag);
    } else {
      fail_at(pos, "unknown tag '{}'", tag);
    }
  }

  StmtPtr parse_if(size_t pos) {
    auto node = std::make_unique<IfStmt>(pos);
    ExprPtr condition = parse_tuple(true, false);
    expect_block_end();
    Body branch = subparse({"elif", "else", "endif"}, "if", pos);
    node->branches.emplace_back(std::move(condition), std::move(branch));
    while (true) {
      std::string tag = cur().text;
      next();
      if (tag == "elif") {
        condition = parse_tuple(true, false);
        expect_block_end();
        branch = subparse({"elif", "else", "endif"}, "if", pos);
        node->branches.emplace_back(std::move(condition), std::move(branch));
      } else if (tag == "else") {
        expect_block_end();
        node->otherwise = subparse({"endif"}, "if", pos);
        next();
        expect_block_end();
        return node;
      } else {
        expect_block_end();
        return node;
      }
    }
  }

  // One name, or names separated by commas, optionally in parentheses.
  Target parse_target() {
    Target target;
    bool parens = at_op("(");
    if (parens) next();
    target.names.push_back(expect_name());
    while (at_op(",")) {
      next();
      target.unpack = true;
      if (cur().kind != TokenKind::Name) break;
      target.names.push_back(expect_name());
    }
    if (parens) {
      expect_op(")");
      target.unpack = true;
    }
    return target;
  }

  StmtPtr parse_for(size_t pos) {
    auto node = std::make_unique<ForStmt>(pos);
    node->target = parse_target();
    expect_keyword("in");
    node->iterable = parse_tuple(false, false);
    if (at_name("if")) {
      next();
      node->filter = parse_expression(true);
    }
    if (at_name("recursive")) fail_at(cur().pos, "recursive loops are not supported");
    expect_block_end();
    ++loop_depth_;
    node->body = subparse({"endfor", "else"}, "for", pos);
    --loop_depth_;
    if (at_name("else")) {
      next();
      expect_block_end();
      node->otherwise = subparse({"endfor"}, "for", pos);
    }
    next();
    expect_block_end();
    return node;
  }

  StmtPtr parse_set(size_t pos) {
    if (cur().kind == TokenKind::Name && peek(1).kind == TokenKind::Operator && peek(1).text == ".") {
      auto node = std::make_unique<SetAttrStmt>(pos);
      node->object = expect_name();
      next();
      node->attr = expect_name();
      expect_op("=");
      node->value = parse_tuple(true, false);
      expect_block_end();
      return node;
    }
    Target target = parse_target();
    if (at_op("=")) {
      next();
      auto node = std::make_unique<SetStmt>(pos);
      node->target = std::move(target);
      node->value = parse_tuple(true, false);
      expect_block_end();
      return node;
    }
    if (target.unpack) unexpected("'='");
    auto node = std::make_unique<SetBlockStmt>(pos);
    node->name = target.names[0];
    if (at_op("|")) {
      next();
      node->filters = parse_filter_chain();
    }
    expect_block_end();
    node->body = subparse({"endset"}, "set", pos);
    next();
    expect_block_end();
    return node;
  }

  StmtPtr parse_macro(size_t pos) {
    auto node = std::make_unique<MacroStmt>(pos);
    node->name = expect_name();
    expect_op("(");
    while (!at_op(")")) {
      if (!node->params.empty()) {
        expect_op(",");
        if (at_op(")")) break;
      }
      size_t param_pos = cur().pos;
      std::string param = expect_name();
      ExprPtr default_value;
      if (at_op("=")) {
        next();
        default_value = parse_expression(true);
      } else if (!node->params.empty() && node->params.back().second) {
        fail_at(param_pos, "non-default argument follows default argument");
      }
      node->params.emplace_back(std::move(param), std::move(default_value));
    }
    next();
    expect_block_end();
    macros_.push_back(node.get());
    int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    node->body = subparse({"endmacro"}, "macro", pos);
    loop_depth_ = saved_loop_depth;
    macros_.pop_back();
    next();
    expect_block_end();
    return node;
  }

  StmtPtr parse_with(size_t pos) {
    auto node = std::make_unique<WithStmt>(pos);
    while (cur().kind != TokenKind::BlockEnd) {
      if (!node->assignments.empty()) expect_op(",");
      std::string name = expect_name();
      expect_op("=");
      node->assignments.emplace_back(std::move(name), parse_expression(true));
    }
    next();
    node->body = subparse({"endwith"}, "with", pos);
    next();
    expect_block_end();
    return node;
  }

  // `name(args) | name | ...` after `{% filter` or `{% set x |`.
  std::vector<FilterCall> parse_filter_chain() {
    std::vector<FilterCall> filters;
    filters.push_back(parse_filter_call());
    while (at_op("|")) {
      next();
      filters.push_back(parse_filter_call());
    }
    return filters;
  }

  FilterCall parse_filter_call() {
    FilterCall call;
    call.pos = cur().pos;
    call.name = parse_dotted_name();
    call.fn = find_filter(call.name);
    if (!call.fn) fail_at(call.pos, "no filter named '{}'", call.name);
    if (at_op("(")) call.args = parse_call_args();
    return call;
  }

  std::string parse_dotted_name() {
    std::string name = expect_name();
    while (at_op(".") && peek(1).kind == TokenKind::Name) {
      next();
      name += '.';
      name += expect_name();
    }
    return name;
  }

  // Comma-separated expressions; more than one (or a trailing comma) makes a tuple.
  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens) {
    size_t pos = cur().pos;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) {
        if (!at_op(",")) break;
        next();
        is_tuple = true;
      }
      if (cur().kind == TokenKind::VariableEnd || cur().kind == TokenKind::BlockEnd || at_op(")") ||
          (!with_condexpr && at_name("if"))) {
        break;
      }
      items.push_back(parse_expression(with_condexpr));
    }
    if (!is_tuple) {
      if (items.size() == 1) return std::move(items[0]);
      if (!explicit_parens) unexpected("an expression");
    }
    return std::make_unique<ListLiteral>(pos, std::move(items), true);
  }

  ExprPtr parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }

  ExprPtr parse_condexpr() {
    DepthGuard guard(*this, cur().pos);
    ExprPtr expr = parse_or();
    while (at_name("if")) {
      auto node = std::make_unique<Conditional>(cur().pos);
      next();
      node->condition = parse_or();
      if (at_name("else")) {
        next();
        node->otherwise = parse_condexpr();
      }
      node->then = std::move(expr);
      expr = std::move(node);
    }
    return expr;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (at_name("or")) {
      size_t pos = cur().pos;
      next();
      left = std::make_unique<Logical>(pos, false, std::move(left), parse_and());
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (at_name("and")) {
      size_t pos = cur().pos;
      next();
      left = std::make_unique<Logical>(pos, true, std::move(left), parse_not());
    }
    return left;
  }

  ExprPtr parse_not() {
    DepthGuard guard(*this, cur().pos);
    if (at_name("not")) {
      size_t pos = cur().pos;
      next();
      return std::make_unique<Unary>(pos, Unary::Op::Not, parse_not());
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    size_t pos = cur().pos;
    ExprPtr first = parse_math1();
    std::vector<std::pair<Compare::Op, ExprPtr>> rest;
    while (true) {
      Compare::Op op;
      if (cur().kind == TokenKind::Operator && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                                cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
        const std::string& t = cur().text;
        op = t == "=="   ? Compare::Op::Eq
             : t == "!=" ? Compare::Op::Ne
             : t == "<"  ? Compare::Op::Lt
             : t == "<=" ? Compare::Op::Le
             : t == ">"  ? Compare::Op::Gt
                         : Compare::Op::Ge;
        next();
      } else if (at_name("in")) {
        op = Compare::Op::In;
        next();
      } else if (at_name("not") && peek(1).kind == TokenKind::Name && peek(1).text == "in") {
        op = Compare::Op::NotIn;
        next();
        next();
      } else {
        break;
      }
      rest.emplace_back(op, parse_math1());
    }
    if (rest.empty()) return first;
    auto node = std::make_unique<Compare>(pos);
    node->first = std::move(first);
    node->rest = std::move(rest);
    return node;
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (at_op("+") || at_op("-")) {
      size_t pos = cur().pos;
      BinaryOp op = at_op("+") ? BinaryOp::Add : BinaryOp::Sub;
      next();
      left = std::make_unique<Binary>(pos, op, std::move(left), parse_concat());
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (at_op("~")) {
      size_t pos = cur().pos;
      next();
      left = std::make_unique<Binary>(pos, BinaryOp::Concat, std::move(left), parse_math2());
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      size_t pos = cur().pos;
      BinaryOp op = at_op("*")    ? BinaryOp::Mul
                    : at_op("/")  ? BinaryOp::Div
                    : at_op("//") ? BinaryOp::FloorDiv
                                  : BinaryOp::Mod;
      next();
      left = std::make_unique<Binary>(pos, op, std::move(left), parse_pow());
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (at_op("**")) {
      size_t pos = cur().pos;
      next();
      left = std::make_unique<Binary>(pos, BinaryOp::Pow, std::move(left), parse_unary(true));
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this, cur().pos);
    size_t pos = cur().pos;
    ExprPtr node;
    if (at_op("-") || at_op("+")) {
      Unary::Op op = at_op("-") ? Unary::Op::Neg : Unary::Op::Pos;
      next();
      node = std::make_unique<Unary>(pos, op, parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    size_t pos = t.pos;
    switch (t.kind) {
      case TokenKind::Name: {
        std::string name = t.text;
        next();
        if (name == "true" || name == "True") return std::make_unique<Literal>(pos, Value::boolean(true));
        if (name == "false" || name == "False") return std::make_unique<Literal>(pos, Value::boolean(false));
        if (name == "none" || name == "None") return std::make_unique<Literal>(pos, Value::none());
        if (!macros_.empty()) {
          if (name == "varargs") macros_.back()->uses_varargs = true;
          if (name == "kwargs") macros_.back()->uses_kwargs = true;
        }
        return std::make_unique<Name>(pos, std::move(name));
      }
      case TokenKind::String: {
        std::string value;
        while (cur().kind == TokenKind::String) {
          value += cur().text;
          next();
        }
        return std::make_unique<Literal>(pos, Value::string(std::move(value)));
      }
      case TokenKind::Integer: {
        int64_t value = t.integer;
        next();
        return std::make_unique<Literal>(pos, Value::integer(value));
      }
      case TokenKind::Float: {
        double value = t.number;
        next();
        return std::make_unique<Literal>(pos, Value::number(value));
      }
      case TokenKind::Operator:
        if (t.text == "(") {
          next();
          ExprPtr expr = parse_tuple(true, true);
          expect_op(")");
          return expr;
        }
        if (t.text == "[") {
          next();
          std::vector<ExprPtr> items;
          while (!at_op("]")) {
            if (!items.empty()) {
              expect_op(",");
              if (at_op("]")) break;
            }
            items.push_back(parse_expression(true));
          }
          next();
          return std::make_unique<ListLiteral>(pos, std::move(items), false);
        }
        if (t.text == "{") {
          next();
          auto node = std::make_unique<DictLiteral>(pos);
          while (!at_op("}")) {
            if (!node->entries.empty()) {
              expect_op(",");
              if (at_op("}")) break;
            }
            ExprPtr key = parse_expression(true);
            expect_op(":");
            node->entries.emplace_back(std::move(key), parse_expression(true));
          }
          next();
          return node;
        }
        break;
      default: break;
    }
    unexpected("an expression");
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (at_op(".")) {
        size_t pos = cur().pos;
        next();
        if (cur().kind == TokenKind::Name) {
          node = std::make_unique<GetAttr>(pos, std::move(node), expect_name());
        } else if (cur().kind == TokenKind::Integer) {
          auto index = std::make_unique<Literal>(cur().pos, Value::integer(cur().integer));
          next();
          node = std::make_unique<GetItem>(pos, std::move(node), std::move(index));
        } else {
          unexpected("an attribute name");
        }
      } else if (at_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (at_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr object) {
    size_t pos = cur().pos;
    next();
    ExprPtr start;
    if (!at_op(":")) {
      start = parse_expression(true);
      if (!at_op(":")) {
        expect_op("]");
        return std::make_unique<GetItem>(pos, std::move(object), std::move(start));
      }
    }
    auto node = std::make_unique<Slice>(pos);
    node->object = std::move(object);
    node->start = std::move(start);
    next();
    if (!at_op("]") && !at_op(":")) node->stop = parse_expression(true);
    if (at_op(":")) {
      next();
      if (!at_op("]")) node->step = parse_expression(true);
    }
    expect_op("]");
    return node;
  }

  Arguments parse_call_args() {
    Arguments args;
    expect_op("(");
    bool first = true;
    while (!at_op(")")) {
      if (!first) {
        expect_op(",");
        if (at_op(")")) break;
      }
      first = false;
      if (at_op("*") || at_op("**")) fail_at(cur().pos, "argument unpacking is not supported");
      if (cur().kind == TokenKind::Name && peek(1).kind == TokenKind::Operator && peek(1).text == "=") {
        std::string name = expect_name();
        next();
        args.keyword.emplace_back(std::move(name), parse_expression(true));
      } else {
        if (!args.keyword.empty()) fail_at(cur().pos, "positional argument follows keyword argument");
        args.positional.push_back(parse_expression(true));
      }
    }
    next();
    return args;
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto node = std::make_unique<Call>(callee->pos);
    node->callee = std::move(callee);
    node->args = parse_call_args();
    return node;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (at_op("|")) {
        next();
        FilterCall filter = parse_filter_call();
        size_t pos = filter.pos;
        node = std::make_unique<FilterExpr>(pos, std::move(node), std::move(filter));
      } else if (at_name("is")) {
        node = parse_test(std::move(node));
      } else if (at_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_test(ExprPtr input) {
    next();
    bool negated = false;
    if (at_name("not")) {
      negated = true;
      next();
    }
    auto node = std::make_unique<TestExpr>(cur().pos);
    node->input = std::move(input);
    node->name = parse_dotted_name();
    node->fn = find_test(node->name);
    if (!node->fn) fail_at(node->pos, "no test named '{}'", node->name);
    const Token& t = cur();
    if (at_op("(")) {
      node->args = parse_call_args();
    } else if ((t.kind == TokenKind::Name || t.kind == TokenKind::String || t.kind == TokenKind::Integer ||
                t.kind == TokenKind::Float || at_op("[") || at_op("{")) &&
               !at_name("else") && !at_name("or") && !at_name("and")) {
      if (at_name("is")) fail_at(t.pos, "tests cannot be chained with 'is'");
      node->args.positional.push_back(parse_postfix(parse_primary()));
    }
    if (!negated) return node;
    size_t pos = node->pos;
    return std::make_unique<Unary>(pos, Unary::Op::Not, std::move(node));
  }
};

}  // namespace

Body parse_template(std::string_view normalized_source) { return Parser(tokenize(normalized_source)).parse(); }

}  // namespace dseek::jinja
