#include "tokenizer/jinja_value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/jinja_budget.h"

namespace frugal::jinja {

// ---- lists and dicts: recorded per render, freed without recursion ----

struct ContainerArena::State {
  std::vector<std::weak_ptr<List>> lists;
  std::vector<std::weak_ptr<Dict>> dicts;
  size_t prune_at = 1024;  // forget dead entries when this many are recorded, so live ones bound the size
};

namespace {

thread_local ContainerArena::State* t_arena = nullptr;

// Containers whose last reference went while another was being freed wait here, so that freeing a
// deeply nested list is a loop rather than a recursion.
struct Graveyard {
  bool draining = false;
  std::vector<List*> lists;
  std::vector<Dict*> dicts;
};
thread_local Graveyard t_graveyard;

template <typename T>
void bury(T* p, std::vector<T*>& pile) {
  Graveyard& g = t_graveyard;
  pile.push_back(p);
  if (g.draining) return;
  g.draining = true;
  while (!g.lists.empty() || !g.dicts.empty()) {
    if (!g.lists.empty()) {
      List* l = g.lists.back();
      g.lists.pop_back();
      delete l;
    } else {
      Dict* d = g.dicts.back();
      g.dicts.pop_back();
      delete d;
    }
  }
  g.draining = false;
}

template <typename T>
void record(std::vector<std::weak_ptr<T>>& v, const std::shared_ptr<T>& p, size_t& prune_at) {
  v.push_back(p);
  if (v.size() < prune_at) return;
  std::erase_if(v, [](const std::weak_ptr<T>& w) { return w.expired(); });
  prune_at = std::max<size_t>(1024, 2 * v.size());
}

}  // namespace

ContainerArena::ContainerArena() : state_(new State), outer_(t_arena) { t_arena = state_; }

ContainerArena::~ContainerArena() {
  t_arena = outer_;
  // Empty what is still alive (cycles); the contents go through the graveyard.
  for (auto& w : state_->lists)
    if (auto l = w.lock()) List().swap(*l);
  for (auto& w : state_->dicts)
    if (auto d = w.lock()) std::vector<std::pair<std::string, Value>>().swap(d->items);
  delete state_;
}

Value Value::new_list(List items) {
  Value r = make(Kind::kList);
  r.list = std::shared_ptr<List>(new List(std::move(items)), [](List* l) { bury(l, t_graveyard.lists); });
  if (t_arena) record(t_arena->lists, r.list, t_arena->prune_at);
  return r;
}

Value Value::new_dict(bool is_namespace) {
  Value r = make(Kind::kDict);
  r.dict = std::shared_ptr<Dict>(new Dict, [](Dict* d) { bury(d, t_graveyard.dicts); });
  r.dict->is_namespace = is_namespace;
  if (t_arena) record(t_arena->dicts, r.dict, t_arena->prune_at);
  return r;
}

bool Value::truthy() const {
  switch (kind) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool: return b;
    case Kind::kInt: return i != 0;
    case Kind::kFloat: return f != 0.0;
    case Kind::kString: return !str().empty();
    case Kind::kList: return !list->empty();
    case Kind::kDict: return !dict->items.empty();
    case Kind::kCallable: return true;
  }
  return false;
}

const char* Value::type_name() const {
  switch (kind) {
    case Kind::kUndefined: return "undefined";
    case Kind::kNone: return "none";
    case Kind::kBool: return "boolean";
    case Kind::kInt: return "integer";
    case Kind::kFloat: return "float";
    case Kind::kString: return "string";
    case Kind::kList: return "list";
    case Kind::kDict: return dict->is_namespace ? "namespace" : "dict";
    case Kind::kCallable: return "callable";
  }
  return "?";
}

namespace {
constexpr size_t kIndexFrom = 16;  // items: below this a linear search is as fast
constexpr int kDefaultNesting = 256;

void check_depth(Budget* budget, int depth) {
  if (budget) budget->check_nesting(depth);
  else if (depth > kDefaultNesting)
    fail(ErrorKind::kFormat, "template values nested deeper than {} levels (a list or dict that contains itself?)",
         kDefaultNesting);
}
}  // namespace

const Value* Dict::find(std::string_view key) const {
  if (items.size() >= kIndexFrom && index_.size() == items.size()) {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &items[it->second].second;
  }
  for (const auto& [k, v] : items)
    if (k == key) return &v;
  return nullptr;
}

void Dict::set(const std::string& key, Value v) {
  if (Value* old = const_cast<Value*>(find(key))) {
    *old = std::move(v);
    return;
  }
  items.emplace_back(key, std::move(v));
  if (items.size() < kIndexFrom) return;
  if (index_.size() + 1 != items.size()) {  // build it once the dict is big enough (or after items changed)
    index_.clear();
    for (size_t k = 0; k < items.size(); ++k) index_.emplace(items[k].first, k);
  } else {
    index_.emplace(key, items.size() - 1);
  }
}

static bool equal_rec(const Value& a, const Value& b, Budget* budget, int depth) {
  using K = Value::Kind;
  check_depth(budget, depth);
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) return a.i == b.i;
    return a.as_double() == b.as_double();
  }
  if (a.kind == K::kBool && b.is_number()) return double(a.b) == b.as_double();
  if (b.kind == K::kBool && a.is_number()) return double(b.b) == a.as_double();
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case K::kUndefined:
    case K::kNone: return true;
    case K::kBool: return a.b == b.b;
    case K::kString:
      if (budget && a.str().size() == b.str().size()) budget->bytes(a.str().size());
      return a.str() == b.str();
    case K::kList: {
      if (a.list == b.list) return true;
      if (a.list->size() != b.list->size()) return false;
      for (size_t k = 0; k < a.list->size(); ++k) {
        if (budget) budget->items(1);
        if (!equal_rec((*a.list)[k], (*b.list)[k], budget, depth + 1)) return false;
      }
      return true;
    }
    case K::kDict: {
      if (a.dict == b.dict) return true;
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (const auto& [k, v] : a.dict->items) {
        if (budget) budget->items(1);
        const Value* o = b.dict->find(k);
        if (!o || !equal_rec(v, *o, budget, depth + 1)) return false;
      }
      return true;
    }
    case K::kCallable: return a.fn == b.fn;
    default: return false;
  }
}

bool values_equal(const Value& a, const Value& b, Budget* budget) { return equal_rec(a, b, budget, 0); }

std::string format_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == std::floor(d) && std::fabs(d) < 1e16) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f", d);
    return buf;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

// Appends Python's repr of a string.
static void repr_string(std::string& out, const std::string& s) {
  // Python picks single quotes unless the text holds a ' and no ".
  const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = dq ? '"' : '\'';
  out += q;
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == static_cast<unsigned char>(q)) out += std::string("\\") + q;
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  out += q;
}

// Appends how `{{ v }}` prints v (repr: as an item of a list or dict), checking the growing text
// against the budget's string limit as it goes: a list holding the same long list a million times
// is small in memory but enormous in print.
static void output_rec(std::string& out, const Value& v, bool repr, Budget* budget, int depth) {
  using K = Value::Kind;
  check_depth(budget, depth);
  switch (v.kind) {
    case K::kUndefined: break;
    case K::kNone: out += "None"; break;
    case K::kBool: out += v.b ? "True" : "False"; break;
    case K::kInt: out += std::to_string(v.i); break;
    case K::kFloat: out += format_float(v.f); break;
    case K::kString:
      if (budget) budget->check_string(out.size() + v.str().size());
      if (repr) repr_string(out, v.str());
      else out += v.str();
      break;
    case K::kList: {
      out += '[';
      for (size_t k = 0; k < v.list->size(); ++k) {
        if (k) out += ", ";
        output_rec(out, (*v.list)[k], true, budget, depth + 1);
        if (budget) budget->check_string(out.size());
      }
      out += ']';
      break;
    }
    case K::kDict: {
      out += v.dict->is_namespace ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [k, x] : v.dict->items) {
        if (!first) out += ", ";
        first = false;
        repr_string(out, k);
        out += ": ";
        output_rec(out, x, true, budget, depth + 1);
        if (budget) budget->check_string(out.size());
      }
      out += v.dict->is_namespace ? "}>" : "}";
      break;
    }
    case K::kCallable: out += "<function " + v.fn->name + ">"; break;
  }
}

std::string to_repr(const Value& v, Budget* budget) {
  std::string out;
  output_rec(out, v, true, budget, 0);
  if (budget) budget->bytes(out.size());
  return out;
}

std::string to_output(const Value& v, Budget* budget) {
  if (v.is_string()) {
    if (budget) budget->bytes(v.str().size());
    return v.str();
  }
  std::string out;
  output_rec(out, v, false, budget, 0);
  if (budget) budget->bytes(out.size());
  return out;
}

static void json_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  out += '"';
}

static void json_rec(std::string& out, const Value& v, int indent, Budget* budget, int depth) {
  using K = Value::Kind;
  check_depth(budget, depth);
  if (budget) budget->check_string(out.size());
  auto newline = [&](int d) {
    out += '\n';
    out.append(size_t(indent) * size_t(d), ' ');
  };
  switch (v.kind) {
    case K::kUndefined:
    case K::kNone: out += "null"; return;
    case K::kBool: out += v.b ? "true" : "false"; return;
    case K::kInt: out += std::to_string(v.i); return;
    case K::kFloat: {
      if (!std::isfinite(v.f)) {
        out += "null";  // JSON.stringify(NaN) in the reference renderer
        return;
      }
      if (v.f == std::floor(v.f) && std::fabs(v.f) < 1e16) {
        out += std::to_string(int64_t(v.f));  // JavaScript prints integral numbers without ".0"
        return;
      }
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, v.f);
      out.append(buf, r.ptr);
      return;
    }
    case K::kString:
      if (budget) budget->check_string(out.size() + v.str().size());
      json_string(out, v.str());
      return;
    case K::kList: {
      out += '[';
      for (size_t k = 0; k < v.list->size(); ++k) {
        if (k) out += indent >= 0 ? "," : ", ";
        if (indent >= 0) newline(depth + 1);
        json_rec(out, (*v.list)[k], indent, budget, depth + 1);
      }
      if (indent >= 0 && !v.list->empty()) newline(depth);
      out += ']';
      return;
    }
    case K::kDict: {
      out += '{';
      bool first = true;
      for (const auto& [k, x] : v.dict->items) {
        if (!first) out += indent >= 0 ? "," : ", ";
        first = false;
        if (indent >= 0) newline(depth + 1);
        json_string(out, k);
        out += ": ";
        json_rec(out, x, indent, budget, depth + 1);
      }
      if (indent >= 0 && !v.dict->items.empty()) newline(depth);
      out += '}';
      return;
    }
    case K::kCallable: fail(ErrorKind::kFormat, "tojson: cannot serialize a callable ({})", v.fn->name);
  }
}

std::string to_json_text(const Value& v, int indent, Budget* budget) {
  std::string out;
  json_rec(out, v, indent, budget, 0);
  if (budget) {
    budget->check_string(out.size());
    budget->bytes(out.size());
  }
  return out;
}

Value from_json(const nlohmann::ordered_json& j) {
  using T = nlohmann::ordered_json::value_t;
  switch (j.type()) {
    case T::null: return Value::none();
    case T::boolean: return Value::boolean(j.get<bool>());
    case T::number_integer: return Value::integer(j.get<int64_t>());
    case T::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u > uint64_t(INT64_MAX)) return Value::number(double(u));
      return Value::integer(int64_t(u));
    }
    case T::number_float: {
      const double d = j.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return Value::integer(int64_t(d));
      return Value::number(d);
    }
    case T::string: return Value::string(j.get<std::string>());
    case T::array: {
      List items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(from_json(x));
      return Value::new_list(std::move(items));
    }
    case T::object: {
      Value d = Value::new_dict();
      for (auto it = j.begin(); it != j.end(); ++it) d.dict->set(it.key(), from_json(it.value()));
      return d;
    }
    default: return Value::undefined();
  }
}

}  // namespace frugal::jinja
