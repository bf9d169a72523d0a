#include "tokenizer/jinja_parser.h"

#include <algorithm>
#include <cstdlib>

#include "core/error.h"
#include "tokenizer/jinja_lexer.h"

namespace frugal::jinja {
namespace {

NodePtr make(NodeKind k, int line) { return std::make_unique<Node>(k, line); }

class Parser {
 public:
  Parser(std::vector<Token> toks, int max_depth) : t_(std::move(toks)), max_depth_(max_depth) {}

  NodePtr parse() {
    std::string stopped;
    NodePtr root = parse_block({}, &stopped, 1);
    return root;
  }

 private:
  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > p.max_depth_)
        fail(ErrorKind::kFormat, "template line {}: nesting deeper than {} levels", p.peek().line, p.max_depth_);
    }
    ~DepthGuard() { --p.depth_; }
  };

  const Token& peek(size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  const Token& next() {
    const Token& t = t_[i_];
    if (i_ + 1 < t_.size()) ++i_;
    return t;
  }
  bool is_op(const char* op, size_t ahead = 0) const {
    const Token& t = peek(ahead);
    return t.kind == Tok::kOp && t.text == op;
  }
  bool is_name(const char* name, size_t ahead = 0) const {
    const Token& t = peek(ahead);
    return t.kind == Tok::kName && t.text == name;
  }
  bool accept_op(const char* op) { return is_op(op) && (next(), true); }
  bool accept_name(const char* name) { return is_name(name) && (next(), true); }
  static std::string describe(const Token& t) {
    if (t.kind == Tok::kEof) return "end of template";
    if (t.kind == Tok::kText) return "text";
    return t.kind == Tok::kString ? "a string" : "'" + t.text + "'";
  }
  [[noreturn]] void error_at(const Token& t, const std::string& what) const {
    fail(ErrorKind::kFormat, "template line {}: {} (found {})", t.line, what, describe(t));
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) error_at(peek(), std::string("expected '") + op + "'");
  }
  std::string expect_name() {
    if (peek().kind != Tok::kName) error_at(peek(), "expected a name");
    return next().text;
  }
  void expect_stmt_end() {
    if (peek().kind != Tok::kStmtEnd) error_at(peek(), "expected '%}'");
    next();
  }

  // Statements until `{% <stop> ...`; consumes `{%` and the stop name, leaving the rest.
  NodePtr parse_block(const std::vector<std::string>& stops, std::string* stopped, int open_line,
                      const char* opener = "") {
    DepthGuard g(*this);
    NodePtr block = make(NodeKind::kBlock, peek().line);
    while (true) {
      const Token& t = peek();
      if (t.kind == Tok::kEof) {
        if (!stops.empty())
          fail(ErrorKind::kFormat, "template line {}: '{{% {} %}}' is never closed (expected '{{% {} %}}')", open_line,
               opener, stops.back());
        return block;
      }
      if (t.kind == Tok::kText) {
        NodePtr n = make(NodeKind::kText, t.line);
        n->name = next().text;
        block->kids.push_back(std::move(n));
      } else if (t.kind == Tok::kExprBegin) {
        next();
        NodePtr n = make(NodeKind::kOutput, t.line);
        n->kids.push_back(parse_expr());
        if (peek().kind != Tok::kExprEnd) error_at(peek(), "expected '}}'");
        next();
        block->kids.push_back(std::move(n));
      } else if (t.kind == Tok::kStmtBegin) {
        const Token& name = peek(1);
        if (name.kind == Tok::kName && std::find(stops.begin(), stops.end(), name.text) != stops.end()) {
          next();
          *stopped = next().text;
          return block;
        }
        next();
        if (NodePtr s = parse_statement()) block->kids.push_back(std::move(s));
      } else {
        error_at(t, "unexpected token");
      }
    }
  }

  NodePtr parse_statement() {
    const Token& kw = peek();
    if (kw.kind != Tok::kName) error_at(kw, "expected a statement name after '{%'");
    const int line = kw.line;
    const std::string name = next().text;
    if (name == "if") return parse_if(line);
    if (name == "for") return parse_for(line);
    if (name == "set") return parse_set(line);
    if (name == "macro") return parse_macro(line);
    if (name == "break" || name == "continue") {
      expect_stmt_end();
      return make(name == "break" ? NodeKind::kBreak : NodeKind::kContinue, line);
    }
    if (name == "do") {
      NodePtr n = make(NodeKind::kDo, line);
      n->kids.push_back(parse_expr());
      expect_stmt_end();
      return n;
    }
    if (name == "filter") {
      NodePtr n = make(NodeKind::kFilterBlock, line);
      NodePtr f = parse_filter(nullptr, line);
      while (accept_op("|")) f = parse_filter(std::move(f), line);
      expect_stmt_end();
      std::string stopped;
      n->kids.push_back(parse_block({"endfilter"}, &stopped, line, "filter"));
      expect_stmt_end();
      n->kids.push_back(std::move(f));
      return n;
    }
    if (name == "generation") {  // assistant-mask markers: render the body as is
      expect_stmt_end();
      std::string stopped;
      NodePtr body = parse_block({"endgeneration"}, &stopped, line, "generation");
      expect_stmt_end();
      return body;
    }
    static const char* kKnownUnsupported[] = {"include", "import", "from",  "extends", "block", "call",
                                              "with",    "raw",    "trans", "autoescape"};
    for (const char* k : kKnownUnsupported)
      if (name == k) fail(ErrorKind::kFormat, "template line {}: '{{% {} %}}' is not supported in chat templates", line, name);
    fail(ErrorKind::kFormat, "template line {}: unknown statement '{{% {} %}}'", line, name);
  }

  NodePtr parse_if(int line) {
    NodePtr n = make(NodeKind::kIf, line);
    n->kids.push_back(parse_expr());
    expect_stmt_end();
    while (true) {
      std::string stopped;
      n->kids.push_back(parse_block({"elif", "else", "endif"}, &stopped, line, "if"));
      if (stopped == "elif") {
        n->kids.push_back(parse_expr());
        expect_stmt_end();
      } else if (stopped == "else") {
        expect_stmt_end();
        n->kids.push_back(nullptr);
        n->kids.push_back(parse_block({"endif"}, &stopped, line, "if"));
        expect_stmt_end();
        return n;
      } else {
        expect_stmt_end();
        return n;
      }
    }
  }

  NodePtr parse_for(int line) {
    NodePtr n = make(NodeKind::kFor, line);
    const bool paren = accept_op("(");
    n->names.push_back(expect_name());
    while (accept_op(",")) {
      if (peek().kind != Tok::kName) break;
      n->names.push_back(expect_name());
    }
    if (paren) expect_op(")");
    if (!accept_name("in")) error_at(peek(), "expected 'in' in a for loop");
    no_cond_ = true;
    n->kids.push_back(parse_expr());
    no_cond_ = false;
    NodePtr filter;
    if (accept_name("if")) filter = parse_expr();
    if (is_name("recursive")) fail(ErrorKind::kFormat, "template line {}: recursive for loops are not supported", line);
    expect_stmt_end();
    std::string stopped;
    n->kids.push_back(parse_block({"else", "endfor"}, &stopped, line, "for"));
    if (stopped == "else") {
      expect_stmt_end();
      n->kids.push_back(parse_block({"endfor"}, &stopped, line, "for"));
    } else {
      n->kids.push_back(nullptr);
    }
    expect_stmt_end();
    n->kids.push_back(std::move(filter));
    return n;
  }

  NodePtr parse_set(int line) {
    const int tline = peek().line;
    const std::string first = expect_name();
    NodePtr target;
    if (is_op(".")) {
      next();
      target = make(NodeKind::kGetAttr, tline);
      NodePtr obj = make(NodeKind::kName, tline);
      obj->name = first;
      target->kids.push_back(std::move(obj));
      target->name = expect_name();
    } else if (is_op(",")) {
      target = make(NodeKind::kTuple, tline);
      NodePtr a = make(NodeKind::kName, tline);
      a->name = first;
      target->kids.push_back(std::move(a));
      while (accept_op(",")) {
        NodePtr b = make(NodeKind::kName, peek().line);
        b->name = expect_name();
        target->kids.push_back(std::move(b));
      }
    } else {
      target = make(NodeKind::kName, tline);
      target->name = first;
    }
    if (accept_op("=")) {
      NodePtr n = make(NodeKind::kSet, line);
      n->kids.push_back(parse_tuple_or_expr());
      n->kids.push_back(std::move(target));
      expect_stmt_end();
      return n;
    }
    if (target->kind != NodeKind::kName) error_at(peek(), "expected '=' in a set statement");
    expect_stmt_end();
    NodePtr n = make(NodeKind::kSetBlock, line);
    n->name = first;
    std::string stopped;
    n->kids.push_back(parse_block({"endset"}, &stopped, line, "set"));
    expect_stmt_end();
    return n;
  }

  NodePtr parse_macro(int line) {
    NodePtr n = make(NodeKind::kMacro, line);
    n->name = expect_name();
    n->kids.push_back(nullptr);  // body, below
    expect_op("(");
    while (!is_op(")")) {
      n->names.push_back(expect_name());
      n->kids.push_back(accept_op("=") ? parse_expr() : nullptr);
      if (!accept_op(",")) break;
    }
    expect_op(")");
    expect_stmt_end();
    std::string stopped;
    n->kids[0] = parse_block({"endmacro"}, &stopped, line, "macro");
    expect_stmt_end();
    return n;
  }

  // ---- expressions ----
  NodePtr parse_tuple_or_expr() {
    const int line = peek().line;
    NodePtr e = parse_expr();
    if (!is_op(",")) return e;
    NodePtr t = make(NodeKind::kTuple, line);
    t->kids.push_back(std::move(e));
    while (accept_op(",")) {
      if (peek().kind == Tok::kStmtEnd || peek().kind == Tok::kExprEnd || is_op(")")) break;
      t->kids.push_back(parse_expr());
    }
    return t;
  }

  NodePtr parse_expr() {
    DepthGuard g(*this);
    const int line = peek().line;
    NodePtr v = parse_or();
    if (no_cond_ || !is_name("if")) return v;
    next();
    NodePtr n = make(NodeKind::kCond, line);
    n->kids.push_back(std::move(v));
    n->kids.push_back(parse_or());
    n->kids.push_back(accept_name("else") ? parse_expr() : nullptr);
    return n;
  }

  NodePtr binary(std::string op, NodePtr l, NodePtr r, int line) {
    NodePtr n = make(NodeKind::kBinary, line);
    n->name = std::move(op);
    n->kids.push_back(std::move(l));
    n->kids.push_back(std::move(r));
    return n;
  }

  NodePtr parse_or() {
    NodePtr l = parse_and();
    while (is_name("or")) {
      const int line = next().line;
      l = binary("or", std::move(l), parse_and(), line);
    }
    return l;
  }
  NodePtr parse_and() {
    NodePtr l = parse_not();
    while (is_name("and")) {
      const int line = next().line;
      l = binary("and", std::move(l), parse_not(), line);
    }
    return l;
  }
  NodePtr parse_not() {
    if (is_name("not")) {
      DepthGuard g(*this);
      NodePtr n = make(NodeKind::kUnary, next().line);
      n->name = "not";
      n->kids.push_back(parse_not());
      return n;
    }
    return parse_compare();
  }
  NodePtr parse_compare() {
    NodePtr l = parse_concat();
    while (true) {
      const Token& t = peek();
      std::string op;
      if (t.kind == Tok::kOp && (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == ">" ||
                                 t.text == "<=" || t.text == ">=")) {
        op = t.text;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && is_name("in", 1)) {
        op = "not in";
        next();
        next();
      } else {
        return l;
      }
      l = binary(op, std::move(l), parse_concat(), t.line);
    }
  }
  NodePtr parse_concat() {
    NodePtr l = parse_math1();
    while (is_op("~")) {
      const int line = next().line;
      l = binary("~", std::move(l), parse_math1(), line);
    }
    return l;
  }
  NodePtr parse_math1() {
    NodePtr l = parse_math2();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      l = binary(t.text, std::move(l), parse_math2(), t.line);
    }
    return l;
  }
  NodePtr parse_math2() {
    NodePtr l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      l = binary(t.text, std::move(l), parse_pow(), t.line);
    }
    return l;
  }
  NodePtr parse_pow() {
    NodePtr l = parse_unary(true);
    while (is_op("**")) {
      const int line = next().line;
      l = binary("**", std::move(l), parse_unary(true), line);
    }
    return l;
  }
  NodePtr parse_unary(bool with_filter) {
    DepthGuard g(*this);
    NodePtr n;
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      n = make(NodeKind::kUnary, t.line);
      n->name = t.text;
      n->kids.push_back(parse_unary(false));
    } else {
      n = parse_postfix(parse_primary());
    }
    if (!with_filter) return n;
    while (true) {
      if (is_op("|")) {
        const int line = next().line;
        n = parse_filter(std::move(n), line);
      } else if (is_name("is")) {
        n = parse_test(std::move(n), next().line);
      } else {
        return n;
      }
    }
  }

  void parse_call_args(Node* n) {
    // after '(' : positional and keyword args, then ')'; a ternary is fine inside the parentheses
    const bool saved = no_cond_;
    no_cond_ = false;
    while (!is_op(")")) {
      if (peek().kind == Tok::kName && is_op("=", 1)) {
        std::string key = next().text;
        next();
        n->kwargs.emplace_back(std::move(key), parse_expr());
      } else {
        if (!n->kwargs.empty()) error_at(peek(), "positional argument after keyword argument");
        n->kids.push_back(parse_expr());
      }
      if (!accept_op(",")) break;
    }
    expect_op(")");
    no_cond_ = saved;
  }

  NodePtr parse_filter(NodePtr operand, int line) {
    NodePtr n = make(NodeKind::kFilter, line);
    n->name = expect_name();
    n->kids.push_back(std::move(operand));
    if (accept_op("(")) parse_call_args(n.get());
    return n;
  }

  NodePtr parse_test(NodePtr operand, int line) {
    NodePtr n = make(NodeKind::kTest, line);
    n->negated = accept_name("not");
    n->name = expect_name();
    n->kids.push_back(std::move(operand));
    if (accept_op("(")) {
      parse_call_args(n.get());
    } else {
      const Token& t = peek();
      const bool literal = t.kind == Tok::kString || t.kind == Tok::kInt || t.kind == Tok::kFloat ||
                           (t.kind == Tok::kName && (t.text == "none" || t.text == "None" || t.text == "true" ||
                                                     t.text == "True" || t.text == "false" || t.text == "False"));
      if (literal) n->kids.push_back(parse_postfix(parse_primary()));
    }
    return n;
  }

  NodePtr parse_postfix(NodePtr n) {
    while (true) {
      const Token& t = peek();
      if (is_op(".")) {
        next();
        NodePtr a;
        if (peek().kind == Tok::kInt) {
          a = make(NodeKind::kGetItem, t.line);
          a->kids.push_back(std::move(n));
          NodePtr idx = make(NodeKind::kLiteral, t.line);
          idx->value = Value::integer(std::strtoll(next().text.c_str(), nullptr, 10));
          a->kids.push_back(std::move(idx));
        } else {
          a = make(NodeKind::kGetAttr, t.line);
          a->name = expect_name();
          a->kids.push_back(std::move(n));
        }
        n = std::move(a);
      } else if (is_op("[")) {
        next();
        n = parse_subscript(std::move(n), t.line);
      } else if (is_op("(")) {
        next();
        NodePtr c = make(NodeKind::kCall, t.line);
        c->kids.push_back(std::move(n));
        parse_call_args(c.get());
        n = std::move(c);
      } else {
        return n;
      }
    }
  }

  NodePtr parse_subscript(NodePtr obj, int line) {
    NodePtr start, stop, step;
    if (!is_op(":")) start = parse_expr();
    if (!is_op(":")) {
      expect_op("]");
      NodePtr n = make(NodeKind::kGetItem, line);
      n->kids.push_back(std::move(obj));
      n->kids.push_back(std::move(start));
      return n;
    }
    next();
    if (!is_op(":") && !is_op("]")) stop = parse_expr();
    if (accept_op(":") && !is_op("]")) step = parse_expr();
    expect_op("]");
    NodePtr n = make(NodeKind::kSlice, line);
    n->kids.push_back(std::move(obj));
    n->kids.push_back(std::move(start));
    n->kids.push_back(std::move(stop));
    n->kids.push_back(std::move(step));
    return n;
  }

  NodePtr literal(Value v, int line) {
    NodePtr n = make(NodeKind::kLiteral, line);
    n->value = std::move(v);
    return n;
  }

  NodePtr parse_primary() {
    DepthGuard g(*this);
    struct CondGuard {  // inside brackets a ternary is allowed again (`for x in [a if b else c] if d`)
      bool& flag;
      bool saved;
      ~CondGuard() { flag = saved; }
    } cond_guard{no_cond_, no_cond_};
    const Token& t = peek();
    switch (t.kind) {
      case Tok::kName: {
        next();
        if (t.text == "true" || t.text == "True") return literal(Value::boolean(true), t.line);
        if (t.text == "false" || t.text == "False") return literal(Value::boolean(false), t.line);
        if (t.text == "none" || t.text == "None") return literal(Value::none(), t.line);
        NodePtr n = make(NodeKind::kName, t.line);
        n->name = t.text;
        return n;
      }
      case Tok::kString: {
        std::string s = next().text;
        while (peek().kind == Tok::kString) s += next().text;  // adjacent literals concatenate
        return literal(Value::string(std::move(s)), t.line);
      }
      case Tok::kInt: {
        errno = 0;
        const long long v = std::strtoll(t.text.c_str(), nullptr, 10);
        if (errno == ERANGE) error_at(t, "integer literal out of range");
        next();
        return literal(Value::integer(v), t.line);
      }
      case Tok::kFloat: next(); return literal(Value::number(std::strtod(t.text.c_str(), nullptr)), t.line);
      case Tok::kOp: {
        if (t.text == "(") {
          next();
          if (accept_op(")")) return make(NodeKind::kTuple, t.line);
          const bool saved = no_cond_;
          no_cond_ = false;
          NodePtr e = parse_tuple_or_expr();
          no_cond_ = saved;
          expect_op(")");
          return e;
        }
        if (t.text == "[") {
          no_cond_ = false;
          next();
          NodePtr n = make(NodeKind::kList, t.line);
          while (!is_op("]")) {
            n->kids.push_back(parse_expr());
            if (!accept_op(",")) break;
          }
          expect_op("]");
          return n;
        }
        if (t.text == "{") {
          no_cond_ = false;
          next();
          NodePtr n = make(NodeKind::kDict, t.line);
          while (!is_op("}")) {
            n->kids.push_back(parse_expr());
            expect_op(":");
            n->kids.push_back(parse_expr());
            if (!accept_op(",")) break;
          }
          expect_op("}");
          return n;
        }
        break;
      }
      default: break;
    }
    error_at(t, "expected an expression");
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
  int max_depth_;
  bool no_cond_ = false;
};

}  // namespace

NodePtr parse_template(std::string_view source, int max_depth) {
  return Parser(tokenize(source), max_depth).parse();
}

}  // namespace frugal::jinja
