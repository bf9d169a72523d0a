// Jinja interpreter: executes a parsed template against a context of variables, with bounded
// execution (steps, call depth, output and collection sizes), so hostile or broken templates end
// in a frugal::Error naming the template line — never a hang, a crash or host access (values are
// data only; dunder attributes such as __class__ are refused).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_value.h"

namespace frugal::jinja {

struct Limits {
  int64_t max_steps = 5'000'000;         // statements + expression nodes + loop iterations
  int max_call_depth = 64;               // nested macro calls
  size_t max_output_bytes = 16u << 20;   // rendered text and any single string
  size_t max_list_items = 1u << 20;      // any single list (range(), +, *, append)
};

struct Scope {
  std::vector<std::pair<std::string, Value>> vars;
  Scope* parent = nullptr;

  Value* find(const std::string& name);
  void set(const std::string& name, Value v);
};

class Interpreter {
 public:
  explicit Interpreter(const Limits& limits) : limits_(limits) {}

  // Renders the template `root` (a kBlock) with `globals` as the outermost scope.
  std::string render(const Node& root, Scope& globals);

  // ---- services for built-ins ----
  [[noreturn]] void error(int line, const std::string& message) const;
  void step(int line);
  void check_string(size_t bytes, int line) const;
  void check_list(size_t items, int line) const;
  const Limits& limits() const { return limits_; }

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  Flow exec(const Node& n, Scope& scope, std::string& out);
  Flow exec_block(const Node& n, Scope& scope, std::string& out);
  Flow exec_for(const Node& n, Scope& scope, std::string& out);
  void exec_set(const Node& n, Scope& scope);
  void append(std::string& out, const std::string& s, int line) const;

  Value eval(const Node& n, Scope& scope);
  Value eval_binary(const Node& n, Scope& scope);
  Value eval_call(const Node& n, Scope& scope);
  Value call_macro(const Callable& fn, CallArgs& args, Scope& caller);
  CallArgs eval_args(const Node& n, size_t first, Scope& scope);
  Value get_attr(const Value& obj, const std::string& name, int line);
  Value get_item(const Value& obj, const Value& key, int line);

  Limits limits_;
  int64_t steps_ = 0;
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
// Number of code points of a UTF-8 string.
size_t utf8_length(const std::string& s);

}  // namespace frugal::jinja
