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

void Interpreter::append(std::string& out, const std::string& s, int line) {
  check_string(out.size() + s.size(), line);
  bytes(s.size());
  out += s;
}

void Interpreter::append_value(std::string& out, const Value& v, int line) {
  if (v.is_string()) return append(out, v.str(), line);  // no copy of the text on the way
  append(out, to_output(v, &budget_), line);
}

std::string Interpreter::render(const Node& root, Scope& globals) {
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
    case NodeKind::kOutput: append_value(out, eval(*n.kids[0], scope), n.line); return Flow::kNormal;
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
      append_value(out, v, n.line);
      return f;
    }
    default: append_value(out, eval(n, scope), n.line); return Flow::kNormal;
  }
}

Interpreter::Flow Interpreter::exec_for(const Node& n, Scope& scope, std::string& out) {
  const Value iterable = eval(*n.kids[0], scope);
  List items;
  switch (iterable.kind) {
    case Value::Kind::kUndefined: break;
    case Value::Kind::kList:
    case Value::Kind::kDict:
    case Value::Kind::kString: items = as_items(*this, iterable, n.line, "for"); break;
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
    if (key.str().starts_with("__")) error(line, fmt::format("access to attribute '{}' is not allowed", key.str()));
    const Value* v = obj.dict->find(key.str());
    return v ? *v : Value::undefined();
  }
  if (obj.is_list() || obj.is_string()) {
    if (!key.is_int()) {
      if (key.is_string() && key.str().starts_with("__"))
        error(line, fmt::format("access to attribute '{}' is not allowed", key.str()));
      return Value::undefined();
    }
    if (obj.is_list()) {
      int64_t idx = key.i < 0 ? key.i + int64_t(obj.list->size()) : key.i;
      if (idx < 0 || idx >= int64_t(obj.list->size())) return Value::undefined();
      return (*obj.list)[size_t(idx)];
    }
    // A code point of the string, found by walking to it (what is walked is charged).
    const std::string& s = obj.str();
    int64_t idx = key.i;
    if (idx < 0) {
      bytes(s.size());
      idx += int64_t(code_point_count(s));
      if (idx < 0) return Value::undefined();
    }
    for (size_t k = 0; k < s.size(); --idx) {
      const size_t len = code_point_bytes(s, k);
      if (idx == 0) {
        bytes(k + len);
        return Value::string(s.substr(k, len));
      }
      k += len;
    }
    bytes(s.size());
    return Value::undefined();
  }
  if (key.is_string() && key.str().starts_with("__"))
    error(line, fmt::format("access to attribute '{}' is not allowed", key.str()));
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
      this->items(items.size() + 1);
      return Value::new_list(std::move(items));
    }
    case NodeKind::kDict: {
      Value d = Value::new_dict();
      this->items(n.kids.size() / 2 + 1);
      for (size_t k = 0; k + 1 < n.kids.size(); k += 2) {
        Value key = eval(*n.kids[k], scope);
        if (!key.is_string()) error(n.line, fmt::format("dict keys must be strings, not {}", key.type_name()));
        bytes(key.str().size());  // the key is copied into the dict
        d.dict->set(key.str(), eval(*n.kids[k + 1], scope));
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
  if (call_depth_ >= limits().max_call_depth)
    error(args.line, fmt::format("macro calls nested deeper than {} (endless recursion?)", limits().max_call_depth));
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

Value Interpreter::concat(const Value& l, const Value& r, int line) {
  std::string s = to_output(l, &budget_);
  const std::string rs = to_output(r, &budget_);
  check_string(s.size() + rs.size(), line);
  bytes(s.size() + rs.size());
  s += rs;
  return Value::string(std::move(s));
}

// 'ab' * n and [x, y] * n. The result's size is known before it is built, so it is checked and
// charged first: '' * 10**18 is the empty string at once, 'x' * 10**18 an error at once.
Value Interpreter::repeat(const Value& l, int64_t times, int line) {
  const uint64_t count = times > 0 ? uint64_t(times) : 0;
  const bool str = l.is_string();
  const uint64_t unit = str ? l.str().size() : l.list->size();
  const uint64_t limit = str ? limits().max_output_bytes : limits().max_list_items;
  if (unit != 0 && count > limit / unit)
    error(line, str ? fmt::format("a {}-byte string repeated {} times: string or output larger than {} bytes", unit,
                                  count, limit)
                    : fmt::format("a {}-item list repeated {} times: list longer than {} items", unit, count, limit));
  const uint64_t total = unit * count;  // <= limit: no overflow
  if (str) {
    bytes(total);
    std::string s;
    s.reserve(total);
    for (uint64_t k = 0; total && k < count; ++k) s += l.str();
    return Value::string(std::move(s));
  }
  items(total);
  List out;
  out.reserve(total);
  for (uint64_t k = 0; total && k < count; ++k) out.insert(out.end(), l.list->begin(), l.list->end());
  return Value::new_list(std::move(out));
}

Value Interpreter::eval_binary(const Node& n, Scope& scope) {
  const std::string& op = n.name;
  Value l = eval(*n.kids[0], scope);
  if (op == "and") return l.truthy() ? eval(*n.kids[1], scope) : l;
  if (op == "or") return l.truthy() ? l : eval(*n.kids[1], scope);
  Value r = eval(*n.kids[1], scope);
  if (op == "==") return Value::boolean(values_equal(l, r, &budget_));
  if (op == "!=") return Value::boolean(!values_equal(l, r, &budget_));
  if (op == "in" || op == "not in") {
    bool found = false;
    if (r.is_string()) {
      if (!l.is_string()) error(n.line, fmt::format("'in <string>' needs a string on the left, not {}", l.type_name()));
      bytes(r.str().size());
      found = r.str().find(l.str()) != std::string::npos;
    } else if (r.is_list()) {
      items(r.list->size());
      for (const Value& x : *r.list) found = found || values_equal(l, x, &budget_);
    } else if (r.is_dict()) {
      found = l.is_string() && r.dict->find(l.str()) != nullptr;
    } else if (!r.is_undefined() && !r.is_none()) {
      error(n.line, fmt::format("'in' needs a string, list or dict on the right, not {}", r.type_name()));
    }
    return Value::boolean(found != (op == "not in"));
  }
  if (op == "~") return concat(l, r, n.line);
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
      bytes(std::min(l.str().size(), r.str().size()));
      c = l.str().compare(r.str());
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
      const size_t total = l.list->size() + r.list->size();
      check_list(total, n.line);
      items(total);
      List out;
      out.reserve(total);
      out.insert(out.end(), l.list->begin(), l.list->end());
      out.insert(out.end(), r.list->begin(), r.list->end());
      return Value::new_list(std::move(out));
    }
    if (l.is_string() || r.is_string()) {
      if (l.is_none() || r.is_none()) bad();
      return concat(l, r, n.line);
    }
  }
  if (op == "*" && (l.is_string() || l.is_list()) && r.is_int()) return repeat(l, r.i, n.line);
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
