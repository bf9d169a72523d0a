// The value model of the Jinja interpreter (chat templates): undefined, none, booleans, integers,
// floats, strings, lists, insertion-ordered dicts (namespaces are dicts that accept attribute
// assignment) and callables (macros and built-in functions). Lists and dicts have reference
// semantics, as in Python: `{% set ns.x = 1 %}` and `list.append(x)` mutate the shared object.
// Strings are immutable and shared, so copying a Value never copies text.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace frugal::jinja {

class Budget;
struct Value;
using List = std::vector<Value>;
struct Dict;
struct Callable;

struct Value {
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kCallable };
  Kind kind = Kind::kUndefined;
  bool b = false;
  int64_t i = 0;
  double f = 0.0;
  std::shared_ptr<List> list;
  std::shared_ptr<Dict> dict;
  std::shared_ptr<Callable> fn;

  static Value undefined() { return Value{}; }
  static Value none() { return make(Kind::kNone); }
  static Value boolean(bool v) {
    Value r = make(Kind::kBool);
    r.b = v;
    return r;
  }
  static Value integer(int64_t v) {
    Value r = make(Kind::kInt);
    r.i = v;
    return r;
  }
  static Value number(double v) {
    Value r = make(Kind::kFloat);
    r.f = v;
    return r;
  }
  static Value string(std::string v) {
    Value r = make(Kind::kString);
    r.str_ = std::make_shared<const std::string>(std::move(v));
    return r;
  }
  static Value new_list(List items = {});
  static Value new_dict(bool is_namespace = false);
  static Value callable(std::shared_ptr<Callable> c) {
    Value r = make(Kind::kCallable);
    r.fn = std::move(c);
    return r;
  }

  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_none() const { return kind == Kind::kNone; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_int() const { return kind == Kind::kInt; }
  bool is_number() const { return kind == Kind::kInt || kind == Kind::kFloat; }
  bool is_list() const { return kind == Kind::kList; }
  bool is_dict() const { return kind == Kind::kDict; }
  double as_double() const { return kind == Kind::kInt ? double(i) : f; }

  bool truthy() const;
  const char* type_name() const;
  // The text of a string; empty for other kinds.
  const std::string& str() const {
    static const std::string kEmpty;
    return str_ ? *str_ : kEmpty;
  }

 private:
  std::shared_ptr<const std::string> str_;
  static Value make(Kind k) {
    Value r;
    r.kind = k;
    return r;
  }
};

struct Dict {
  bool is_namespace = false;
  std::vector<std::pair<std::string, Value>> items;  // insertion order, unique keys; change through set()

  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value v);

 private:
  // key -> index into items, kept once a dict outgrows a linear search (a template filling a dict
  // key by key would otherwise take quadratic time).
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, size_t, Hash, std::equal_to<>> index_;
};

// While one exists (one per render, on the rendering thread), every list and dict made on this
// thread is recorded, and those still alive when it ends are emptied: a template can make a list
// contain itself, and such a cycle would never be freed. Lists and dicts are also freed without
// recursion, so a list nested a million deep does not overflow the stack when it goes.
class ContainerArena {
 public:
  ContainerArena();
  ~ContainerArena();
  ContainerArena(const ContainerArena&) = delete;
  ContainerArena& operator=(const ContainerArena&) = delete;

  struct State;

 private:
  State* state_;
  State* outer_;
};

// Arguments of a call: positional, then keyword (in call order).
struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  int line = 0;
};

class Interpreter;
struct Node;
struct Callable {
  std::string name;
  std::function<Value(Interpreter&, CallArgs&)> call;  // a built-in function, or
  const Node* macro = nullptr;                          // a macro defined by the template
};

// With a `budget`, the functions below charge the bytes and items they touch and stop at its
// limits (string size, nesting); without one they only refuse nesting deeper than 256 levels.

// Python-style equality (deep for lists/dicts; 1 == 1.0).
bool values_equal(const Value& a, const Value& b, Budget* budget = nullptr);
// How `{{ v }}` and `~` print a value: strings as-is, floats with a decimal point (1.0), lists and
// dicts as Python reprs, none as "None", booleans as "True"/"False", undefined as "".
std::string to_output(const Value& v, Budget* budget = nullptr);
// Python repr (strings quoted) — used inside list/dict printing.
std::string to_repr(const Value& v, Budget* budget = nullptr);
// JSON text like Python's json.dumps(ensure_ascii=False) / @huggingface/jinja's tojson: ", " and
// ": " separators without indent; with indent >= 0, newlines and that many spaces per level.
std::string to_json_text(const Value& v, int indent = -1, Budget* budget = nullptr);
// Conversion from JSON input (messages, tools). Floats with an integral value become integers, as
// in JavaScript (the reference renderer) — e.g. 2.0 prints "2".
Value from_json(const nlohmann::ordered_json& j);
// Shortest round-trip float text; integral values keep ".0".
std::string format_float(double d);

}  // namespace frugal::jinja
