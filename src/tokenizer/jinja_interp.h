// Jinja interpreter: executes a parsed template against a context of variables, with bounded
// execution (jinja_budget.h: steps, bytes and items of work, call depth, sizes, nesting, time), so
// hostile or broken templates end in a frugal::Error naming the template and line — never a hang,
// a crash or host access (values are data only; dunder attributes such as __class__ are refused).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_budget.h"
#include "tokenizer/jinja_value.h"

namespace frugal::jinja {

struct Scope {
  std::vector<std::pair<std::string, Value>> vars;
  Scope* parent = nullptr;

  Value* find(const std::string& name);
  void set(const std::string& name, Value v);
};

class Interpreter {
 public:
  // `source` names the template in errors (a file name; may be empty).
  explicit Interpreter(const Limits& limits, std::string source = "") : budget_(limits, std::move(source)) {}

  // Renders the template `root` (a kBlock) with `globals` as the outermost scope.
  std::string render(const Node& root, Scope& globals);

  // ---- services for built-ins ----
  [[noreturn]] void error(int line, const std::string& message) const { budget_.error(line, message); }
  void step(int line) { budget_.step(line); }
  void check_string(size_t bytes, int) const { budget_.check_string(bytes); }
  void check_list(size_t items, int) const { budget_.check_list(items); }
  void bytes(uint64_t n) { budget_.bytes(n); }  // charge string work
  void items(uint64_t n) { budget_.items(n); }  // charge list/dict work
  Budget* budget() { return &budget_; }
  const Limits& limits() const { return budget_.limits(); }

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  Flow exec(const Node& n, Scope& scope, std::string& out);
  Flow exec_block(const Node& n, Scope& scope, std::string& out);
  Flow exec_for(const Node& n, Scope& scope, std::string& out);
  void exec_set(const Node& n, Scope& scope);
  void append(std::string& out, const std::string& s, int line);
  void append_value(std::string& out, const Value& v, int line);

  Value eval(const Node& n, Scope& scope);
  Value eval_binary(const Node& n, Scope& scope);
  Value concat(const Value& l, const Value& r, int line);
  Value repeat(const Value& l, int64_t times, int line);
  Value eval_call(const Node& n, Scope& scope);
  Value call_macro(const Callable& fn, CallArgs& args, Scope& caller);
  CallArgs eval_args(const Node& n, size_t first, Scope& scope);
  Value get_attr(const Value& obj, const std::string& name, int line);
  Value get_item(const Value& obj, const Value& key, int line);

  Budget budget_;
  int call_depth_ = 0;
};

// Built-ins (jinja_builtins.cpp).
Value apply_filter(Interpreter& in, const std::string& name, Value operand, CallArgs& args);
bool apply_test(Interpreter& in, const std::string& name, const Value& operand, CallArgs& args);
// Methods of strings, lists and dicts: "a".startswith("b"), d.items(), l.append(x), ...
Value call_method(Interpreter& in, Value& obj, const std::string& name, CallArgs& args);
// range, namespace, raise_exception, strftime_now, dict.
void install_globals(Scope& globals);
// Python-style slicing of lists and (code point) strings.
Value slice_value(Interpreter& in, const Value& obj, const Value& start, const Value& stop, const Value& step, int line);
// Number of code points of a UTF-8 string (a stray byte counts as one).
size_t utf8_length(const std::string& s);
// Bytes of the code point that starts at s[k] (1 for a stray byte), and the number of code points
// counted that way (what code_points() returns).
size_t code_point_bytes(const std::string& s, size_t k);
size_t code_point_count(const std::string& s);

}  // namespace frugal::jinja
