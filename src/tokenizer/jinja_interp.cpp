#include "tokenizer/jinja_interp.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "tokenizer/jinja_strings.h"

namespace frugal::jinja {

Value* Scope::find(const std::string& name) {
  for (Scope* s = this; s; s = s->parent)
    for (auto& [k, v] : s->vars)
      if (k == name) return &v;
  return nullptr;
}

void Scope::set(const std::string& name, Value v) {
  for (auto& [k, old] : vars)
    if (k == name) {
      old = std::move(v);
      return;
    }
  vars.emplace_back(name, std::move(v));
}

void Interpreter::error(int line, const std::string& message) const {
  fail(ErrorKind::kFormat, "template line {}: {}", line, message);
}

void Interpreter::step(int line) {
  if (++steps_ > limits_.max_steps)
    error(line, fmt::format("template exceeded {} execution steps (endless loop?)", limits_.max_steps));
}

void Interpreter::check_string(size_t bytes, int line) const {
  if (bytes > limits_.max_output_bytes)
    error(line, fmt::format("string or output larger than {} bytes", limits_.max_output_bytes));
}

void Interpreter::check_list(size_t items, int line) const {
  if (items > limits_.max_list_items) error(line, fmt::format("list longer than {} items", limits_.max_list_items));
}

void Interpreter::append(std::string& out, const std::string& s, int line) const {
  check_string(out.size() + s.size(), line);
  out += s;
}

std::string Interpreter::render(const Node& root, Scope& globals) {
  steps_ = 0;
  call_depth_ = 0;
  std::string out;
  Scope top{{}, &globals};
  const Flow f = exec(root, top, out);
  if (f != Flow::kNormal) error(root.line, "'break' or 'continue' outside a for loop");
  return out;
}

Interpreter::Flow Interpreter::exec_block(const Node& n, Scope& scope, std::string& out) {
  for (const NodePtr& k : n.kids) {
    const Flow f = exec(*k, scope, out);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec(const Node& n, Scope& scope, std::string& out) {
  step(n.line);
  switch (n.kind) {
    case NodeKind::kBlock: return exec_block(n, scope, out);
    case NodeKind::kText: append(out, n.name, n.line); return Flow::kNormal;
    case NodeKind::kOutput: append(out, to_output(eval(*n.kids[0], scope)), n.line); return Flow::kNormal;
    case NodeKind::kIf: {
      for (size_t k = 0; k + 1 < n.kids.size(); k += 2) {
        if (!n.kids[k] || eval(*n.kids[k], scope).truthy()) return exec(*n.kids[k + 1], scope, out);
      }
      return Flow::kNormal;
    }
    case NodeKind::kFor: return exec_for(n, scope, out);
    case NodeKind::kSet: exec_set(n, scope); return Flow::kNormal;
    case NodeKind::kSetBlock: {
      std::string body;
      const Flow f = exec(*n.kids[0], scope, body);
      scope.set(n.name, Value::string(std::move(body)));
      return f;
    }
    case NodeKind::kMacro: {
      auto fn = std::make_shared<Callable>();
      fn->name = n.name;
      fn->macro = &n;
      scope.set(n.name, Value::callable(std::move(fn)));
      return Flow::kNormal;
    }
    case NodeKind::kBreak: return Flow::kBreak;
    case NodeKind::kContinue: return Flow::kContinue;
    case NodeKind::kDo: eval(*n.kids[0], scope); return Flow::kNormal;
    case NodeKind::kFilterBlock: {
      std::string body;
      const Flow f = exec(*n.kids[0], scope, body);
      // Apply the filter chain (innermost operand is the rendered body).
      std::vector<const Node*> chain;
      for (const Node* x = n.kids[1].get(); x; x = x->kids[0].get()) chain.push_back(x);
      Value v = Value::string(std::move(body));
      for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        CallArgs args = eval_args(**it, 1, scope);
        v = apply_filter(*this, (*it)->name, std::move(v), args);
      }
      append(out, to_output(v), n.line);
      return f;
    }
    default: append(out, to_output(eval(n, scope)), n.line); return Flow::kNormal;
  }
}

Interpreter::Flow Interpreter::exec_for(const Node& n, Scope& scope, std::string& out) {
  const Value iterable = eval(*n.kids[0], scope);
  List items;
  switch (iterable.kind) {
    case Value::Kind::kList: items = *iterable.list; break;
    case Value::Kind::kDict:
      for (const auto& [k, v] : iterable.dict->items) items.push_back(Value::string(k));
      break;
    case Value::Kind::kString: {
      for (std::string& c : code_points(iterable.s)) items.push_back(Value::string(std::move(c)));
      break;
    }
    case Value::Kind::kUndefined: break;
    default: error(n.line, fmt::format("cannot loop over a value of type {}", iterable.type_name()));
  }
  Scope body_scope{{}, &scope};
  auto bind = [&](const Value& item) {
    if (n.names.size() == 1) {
      body_scope.set(n.names[0], item);
      return;
    }
    if (!item.is_list() || item.list->size() != n.names.size())
      error(n.line, fmt::format("cannot unpack a {} into {} loop variables", item.type_name(), n.names.size()));
    for (size_t k = 0; k < n.names.size(); ++k) body_scope.set(n.names[k], (*item.list)[k]);
  };
  if (const Node* filter = n.kids[3].get()) {
    List kept;
    for (const Value& item : items) {
      step(n.line);
      bind(item);
      if (eval(*filter, body_scope).truthy()) kept.push_back(item);
    }
    items = std::move(kept);
  }
  const int64_t len = int64_t(items.size());
  for (int64_t k = 0; k < len; ++k) {
    step(n.line);
    bind(items[size_t(k)]);
    Value loop = Value::new_dict();
    Dict& d = *loop.dict;
    d.set("index", Value::integer(k + 1));
    d.set("index0", Value::integer(k));
    d.set("revindex", Value::integer(len - k));
    d.set("revindex0", Value::integer(len - k - 1));
    d.set("first", Value::boolean(k == 0));
    d.set("last", Value::boolean(k == len - 1));
    d.set("length", Value::integer(len));
    d.set("previtem", k > 0 ? items[size_t(k - 1)] : Value::undefined());
    d.set("nextitem", k + 1 < len ? items[size_t(k + 1)] : Value::undefined());
    body_scope.set("loop", std::move(loop));
    const Flow f = exec(*n.kids[1], body_scope, out);
    if (f == Flow::kBreak) break;
  }
  if (len == 0 && n.kids[2]) return exec(*n.kids[2], scope, out);
  return Flow::kNormal;
}

void Interpreter::exec_set(const Node& n, Scope& scope) {
  Value v = eval(*n.kids[0], scope);
  const Node& target = *n.kids[1];
  if (target.kind == NodeKind::kName) {
    scope.set(target.name, std::move(v));
  } else if (target.kind == NodeKind::kGetAttr) {
    const std::string& obj_name = target.kids[0]->name;
    Value* obj = scope.find(obj_name);
    if (!obj || !obj->is_dict())
      error(n.line, fmt::format("cannot set attribute '{}' of '{}': not a namespace", target.name, obj_name));
    if (target.name.starts_with("__")) error(n.line, fmt::format("setting attribute '{}' is not allowed", target.name));
    obj->dict->set(target.name, std::move(v));
  } else {
    if (!v.is_list() || v.list->size() != target.kids.size())
      error(n.line, fmt::format("cannot unpack a {} into {} variables", v.type_name(), target.kids.size()));
    for (size_t k = 0; k < target.kids.size(); ++k) scope.set(target.kids[k]->name, (*v.list)[k]);
  }
}

CallArgs Interpreter::eval_args(const Node& n, size_t first, Scope& scope) {
  CallArgs a;
  a.line = n.line;
  for (size_t k = first; k < n.kids.size(); ++k) a.pos.push_back(eval(*n.kids[k], scope));
  for (const auto& [key, expr] : n.kwargs) a.kw.emplace_back(key, eval(*expr, scope));
  return a;
}

Value Interpreter::get_attr(const Value& obj, const std::string& name, int line) {
  if (name.starts_with("__")) error(line, fmt::format("access to attribute '{}' is not allowed", name));
  if (obj.is_dict()) {
    if (const Value* v = obj.dict->find(name)) return *v;
  }
  return Value::undefined();
}

Value Interpreter::get_item(const Value& obj, const Value& key, int line) {
  if (obj.is_dict()) {
    if (!key.is_string()) return Value::undefined();
    if (key.s.starts_with("__")) error(line, fmt::format("access to attribute '{}' is not allowed", key.s));
    const Value* v = obj.dict->find(key.s);
    return v ? *v : Value::undefined();
  }
  if (obj.is_list() || obj.is_string()) {
    if (!key.is_int()) {
      if (key.is_string() && key.s.starts_with("__"))
        error(line, fmt::format("access to attribute '{}' is not allowed", key.s));
      return Value::undefined();
    }
    if (obj.is_list()) {
      int64_t idx = key.i < 0 ? key.i + int64_t(obj.list->size()) : key.i;
      if (idx < 0 || idx >= int64_t(obj.list->size())) return Value::undefined();
      return (*obj.list)[size_t(idx)];
    }
    const std::vector<std::string> chars = code_points(obj.s);
    int64_t idx = key.i < 0 ? key.i + int64_t(chars.size()) : key.i;
    if (idx < 0 || idx >= int64_t(chars.size())) return Value::undefined();
    return Value::string(chars[size_t(idx)]);
  }
  if (key.is_string() && key.s.starts_with("__"))
    error(line, fmt::format("access to attribute '{}' is not allowed", key.s));
  return Value::undefined();
}

Value Interpreter::eval(const Node& n, Scope& scope) {
  step(n.line);
  switch (n.kind) {
    case NodeKind::kLiteral: return n.value;
    case NodeKind::kName: {
      const Value* v = scope.find(n.name);
      return v ? *v : Value::undefined();
    }
    case NodeKind::kList:
    case NodeKind::kTuple: {
      List items;
      for (const NodePtr& k : n.kids) items.push_back(eval(*k, scope));
      return Value::new_list(std::move(items));
    }
    case NodeKind::kDict: {
      Value d = Value::new_dict();
      for (size_t k = 0; k + 1 < n.kids.size(); k += 2) {
        Value key = eval(*n.kids[k], scope);
        if (!key.is_string()) error(n.line, fmt::format("dict keys must be strings, not {}", key.type_name()));
        d.dict->set(key.s, eval(*n.kids[k + 1], scope));
      }
      return d;
    }
    case NodeKind::kGetAttr: return get_attr(eval(*n.kids[0], scope), n.name, n.line);
    case NodeKind::kGetItem: {
      Value obj = eval(*n.kids[0], scope);
      return get_item(obj, eval(*n.kids[1], scope), n.line);
    }
    case NodeKind::kSlice: {
      Value obj = eval(*n.kids[0], scope);
      auto opt = [&](const NodePtr& p) { return p ? eval(*p, scope) : Value::none(); };
      Value a = opt(n.kids[1]), b = opt(n.kids[2]), c = opt(n.kids[3]);
      return slice_value(*this, obj, a, b, c, n.line);
    }
    case NodeKind::kCall: return eval_call(n, scope);
    case NodeKind::kFilter: {
      Value operand = eval(*n.kids[0], scope);
      CallArgs args = eval_args(n, 1, scope);
      return apply_filter(*this, n.name, std::move(operand), args);
    }
    case NodeKind::kTest: {
      Value operand = eval(*n.kids[0], scope);
      CallArgs args = eval_args(n, 1, scope);
      return Value::boolean(apply_test(*this, n.name, operand, args) != n.negated);
    }
    case NodeKind::kUnary: {
      Value v = eval(*n.kids[0], scope);
      if (n.name == "not") return Value::boolean(!v.truthy());
      if (!v.is_number()) error(n.line, fmt::format("unary '{}' needs a number, not {}", n.name, v.type_name()));
      if (n.name == "+") return v;
      if (v.is_int()) {
        if (v.i == INT64_MIN) error(n.line, "integer overflow");
        return Value::integer(-v.i);
      }
      return Value::number(-v.f);
    }
    case NodeKind::kBinary: return eval_binary(n, scope);
    case NodeKind::kCond: {
      if (eval(*n.kids[1], scope).truthy()) return eval(*n.kids[0], scope);
      return n.kids[2] ? eval(*n.kids[2], scope) : Value::undefined();
    }
    default: error(n.line, "statement used as an expression");
  }
}

Value Interpreter::eval_call(const Node& n, Scope& scope) {
  const Node& callee = *n.kids[0];
  if (callee.kind == NodeKind::kGetAttr) {
    Value obj = eval(*callee.kids[0], scope);
    if (callee.name.starts_with("__")) error(n.line, fmt::format("access to attribute '{}' is not allowed", callee.name));
    const Value* member = obj.is_dict() ? obj.dict->find(callee.name) : nullptr;
    CallArgs args = eval_args(n, 1, scope);
    if (member && member->kind == Value::Kind::kCallable) {
      const Value fn = *member;
      return fn.fn->macro ? call_macro(*fn.fn, args, scope) : fn.fn->call(*this, args);
    }
    return call_method(*this, obj, callee.name, args);
  }
  Value fn = eval(callee, scope);
  CallArgs args = eval_args(n, 1, scope);
  if (fn.kind != Value::Kind::kCallable) {
    const std::string what = callee.kind == NodeKind::kName ? "'" + callee.name + "'" : "value";
    error(n.line, fmt::format("{} is not callable ({})", what, fn.type_name()));
  }
  if (fn.fn->macro) return call_macro(*fn.fn, args, scope);
  return fn.fn->call(*this, args);
}

Value Interpreter::call_macro(const Callable& fn, CallArgs& args, Scope& caller) {
  const Node& m = *fn.macro;
  if (call_depth_ >= limits_.max_call_depth)
    error(args.line, fmt::format("macro calls nested deeper than {} (endless recursion?)", limits_.max_call_depth));
  if (args.pos.size() > m.names.size())
    error(args.line, fmt::format("macro '{}' takes {} arguments, {} given", m.name, m.names.size(), args.pos.size()));
  Scope local{{}, &caller};
  for (size_t k = 0; k < m.names.size(); ++k) {
    if (k < args.pos.size()) {
      local.set(m.names[k], args.pos[k]);
      continue;
    }
    bool found = false;
    for (auto& [key, v] : args.kw)
      if (key == m.names[k]) {
        local.set(m.names[k], v);
        found = true;
      }
    if (!found) local.set(m.names[k], m.kids[k + 1] ? eval(*m.kids[k + 1], local) : Value::undefined());
  }
  for (auto& [key, v] : args.kw) {
    bool known = false;
    for (const std::string& p : m.names) known = known || p == key;
    if (!known) error(args.line, fmt::format("macro '{}' has no argument '{}'", m.name, key));
  }
  ++call_depth_;
  std::string out;
  exec(*m.kids[0], local, out);
  --call_depth_;
  return Value::string(std::move(out));
}

namespace {

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

Value Interpreter::eval_binary(const Node& n, Scope& scope) {
  const std::string& op = n.name;
  Value l = eval(*n.kids[0], scope);
  if (op == "and") return l.truthy() ? eval(*n.kids[1], scope) : l;
  if (op == "or") return l.truthy() ? l : eval(*n.kids[1], scope);
  Value r = eval(*n.kids[1], scope);
  if (op == "==") return Value::boolean(values_equal(l, r));
  if (op == "!=") return Value::boolean(!values_equal(l, r));
  if (op == "in" || op == "not in") {
    bool found = false;
    if (r.is_string()) {
      if (!l.is_string()) error(n.line, fmt::format("'in <string>' needs a string on the left, not {}", l.type_name()));
      found = r.s.find(l.s) != std::string::npos;
    } else if (r.is_list()) {
      for (const Value& x : *r.list) found = found || values_equal(l, x);
    } else if (r.is_dict()) {
      found = l.is_string() && r.dict->find(l.s) != nullptr;
    } else if (!r.is_undefined() && !r.is_none()) {
      error(n.line, fmt::format("'in' needs a string, list or dict on the right, not {}", r.type_name()));
    }
    return Value::boolean(found != (op == "not in"));
  }
  if (op == "~") {
    std::string s = to_output(l);
    s += to_output(r);
    check_string(s.size(), n.line);
    return Value::string(std::move(s));
  }
  auto bad = [&]() {
    error(n.line, fmt::format("unsupported operand types for '{}': {} and {}", op, l.type_name(), r.type_name()));
  };
  if (l.is_undefined() || r.is_undefined())
    error(n.line, fmt::format("undefined value used with '{}' (a missing variable or key?)", op));
  if (op == "<" || op == ">" || op == "<=" || op == ">=") {
    int c = 0;
    if (l.is_number() && r.is_number()) {
      if (l.is_int() && r.is_int()) c = l.i < r.i ? -1 : l.i > r.i ? 1 : 0;
      else c = l.as_double() < r.as_double() ? -1 : l.as_double() > r.as_double() ? 1 : 0;
    } else if (l.is_string() && r.is_string()) {
      c = l.s.compare(r.s);
    } else {
      bad();
    }
    if (op == "<") return Value::boolean(c < 0);
    if (op == ">") return Value::boolean(c > 0);
    if (op == "<=") return Value::boolean(c <= 0);
    return Value::boolean(c >= 0);
  }
  if (op == "+") {
    if (l.is_list() && r.is_list()) {
      check_list(l.list->size() + r.list->size(), n.line);
      List items = *l.list;
      items.insert(items.end(), r.list->begin(), r.list->end());
      return Value::new_list(std::move(items));
    }
    if (l.is_string() || r.is_string()) {
      if (l.is_none() || r.is_none()) bad();
      std::string s = to_output(l);
      s += to_output(r);
      check_string(s.size(), n.line);
      return Value::string(std::move(s));
    }
  }
  if (op == "*" && (l.is_string() || l.is_list()) && r.is_int()) {
    const int64_t count = std::max<int64_t>(0, r.i);
    if (l.is_string()) {
      if (count > 0 && l.s.size() * uint64_t(count) / uint64_t(count) != l.s.size()) bad();
      check_string(l.s.size() * size_t(count), n.line);
      std::string s;
      for (int64_t k = 0; k < count; ++k) s += l.s;
      return Value::string(std::move(s));
    }
    check_list(l.list->size() * size_t(std::min<int64_t>(count, int64_t(limits_.max_list_items) + 1)), n.line);
    List items;
    for (int64_t k = 0; k < count; ++k) items.insert(items.end(), l.list->begin(), l.list->end());
    return Value::new_list(std::move(items));
  }
  if (!l.is_number() || !r.is_number()) {
    if (op == "%" && l.is_string()) error(n.line, "string formatting with '%' is not supported; use '~' or '+'");
    bad();
  }
  const bool ints = l.is_int() && r.is_int();
  if (op == "+" || op == "-" || op == "*") {
    if (ints) {
      int64_t res = 0;
      const bool ovf = op == "+"   ? __builtin_add_overflow(l.i, r.i, &res)
                       : op == "-" ? __builtin_sub_overflow(l.i, r.i, &res)
                                   : __builtin_mul_overflow(l.i, r.i, &res);
      if (ovf) error(n.line, "integer overflow");
      return Value::integer(res);
    }
    const double a = l.as_double(), b = r.as_double();
    return Value::number(op == "+" ? a + b : op == "-" ? a - b : a * b);
  }
  if (op == "/") {
    if (r.as_double() == 0.0) error(n.line, "division by zero");
    return Value::number(l.as_double() / r.as_double());
  }
  if (op == "//" || op == "%") {
    if (r.as_double() == 0.0) error(n.line, op == "//" ? "integer division by zero" : "modulo by zero");
    if (ints) {
      if (l.i == INT64_MIN && r.i == -1) error(n.line, "integer overflow");
      const int64_t q = floor_div(l.i, r.i);
      return Value::integer(op == "//" ? q : l.i - q * r.i);
    }
    const double a = l.as_double(), b = r.as_double();
    const double q = std::floor(a / b);
    return Value::number(op == "//" ? q : a - q * b);
  }
  if (op == "**") {
    if (ints && r.i >= 0) {
      int64_t res = 1;
      for (int64_t k = 0; k < r.i; ++k) {
        if (__builtin_mul_overflow(res, l.i, &res)) error(n.line, "integer overflow");
        if (res == 0 || res == 1) break;
        step(n.line);
      }
      if (res == 1 && l.i == -1 && (r.i % 2)) res = -1;
      return Value::integer(res);
    }
    return Value::number(std::pow(l.as_double(), r.as_double()));
  }
  bad();
  return Value::undefined();
}

}  // namespace frugal::jinja
