// Built-in filters and tests of the chat-template interpreter. Work on strings and lists is charged
// to the interpreter's budget (jinja_budget.h) by the bytes and items scanned or built.
#include <algorithm>
#include <cmath>
#include <ctime>

#include "core/error.h"
#include "tokenizer/jinja_interp.h"
#include "tokenizer/jinja_strings.h"

namespace frugal::jinja {

namespace {

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

CallArgs rest_args(const CallArgs& a, size_t from) {
  CallArgs r;
  r.line = a.line;
  for (size_t k = from; k < a.pos.size(); ++k) r.pos.push_back(a.pos[k]);
  r.kw = a.kw;
  return r;
}

Value number_from_string(const std::string& text, bool want_int, const Value& fallback) {
  const std::string t = strip(text, Value::none(), true, true);
  if (t.empty()) return fallback;
  char* end = nullptr;
  if (want_int) {
    errno = 0;
    const long long v = std::strtoll(t.c_str(), &end, 10);
    if (end == t.c_str() + t.size() && errno == 0) return Value::integer(v);
    const double d = std::strtod(t.c_str(), &end);  // Jinja's int filter also accepts "3.7"
    if (end == t.c_str() + t.size() && std::isfinite(d) && std::fabs(d) < 9.2e18) return Value::integer(int64_t(d));
    return fallback;
  }
  const double d = std::strtod(t.c_str(), &end);
  if (end == t.c_str() + t.size()) return Value::number(d);
  return fallback;
}

}  // namespace

Value apply_filter(Interpreter& in, const std::string& name, Value v, CallArgs& a) {
  const int line = a.line;
  if (name == "default" || name == "d") {
    const bool boolean = arg(a, 1, "boolean", Value::boolean(false)).truthy();
    if (v.is_undefined() || (boolean && !v.truthy())) return arg(a, 0, "default_value", Value::string(""));
    return v;
  }
  if (name == "safe") return v;
  if (name == "tojson") {
    const Value ind = arg(a, 0, "indent", Value::none());
    if (!ind.is_none() && !ind.is_int()) in.error(line, "tojson(indent=...) needs an integer");
    const int indent = ind.is_int() ? int(std::clamp<int64_t>(ind.i, 0, 32)) : -1;
    try {
      return Value::string(to_json_text(v, indent, in.budget()));
    } catch (const Error& e) {
      const std::string msg = e.what();
      if (msg.find("template line") != std::string::npos) throw;  // a budget error already says where
      in.error(line, msg);
    }
  }
  if (name == "string") return v.is_string() ? v : Value::string(to_output(v, in.budget()));
  if (name == "length" || name == "count") {
    if (v.is_string()) {
      in.bytes(v.str().size());
      return Value::integer(int64_t(utf8_length(v.str())));
    }
    if (v.is_list()) return Value::integer(int64_t(v.list->size()));
    if (v.is_dict()) return Value::integer(int64_t(v.dict->items.size()));
    if (v.is_undefined()) return Value::integer(0);
    in.error(line, fmt::format("length of a {} is undefined", v.type_name()));
  }
  if (name == "list") return Value::new_list(as_items(in, v, line, "list"));
  if (name == "first" || name == "last") {
    if (v.is_list()) {  // no copy of the list for one item
      if (v.list->empty()) return Value::undefined();
      return name == "first" ? v.list->front() : v.list->back();
    }
    List items = as_items(in, v, line, name.c_str());
    if (items.empty()) return Value::undefined();
    return name == "first" ? items.front() : items.back();
  }
  if (name == "reverse") {
    List items = as_items(in, v, line, "reverse");
    std::reverse(items.begin(), items.end());
    if (!v.is_string()) return Value::new_list(std::move(items));
    std::string s;
    for (const Value& c : items) s += c.str();
    return Value::string(std::move(s));
  }
  if (name == "join") {
    const Value sep = arg(a, 0, "d", Value::string(""));
    const Value* attr = kwarg(a, "attribute");
    std::string out;
    bool first = true;
    const std::string sep_text = to_output(sep, in.budget());
    const std::string attr_path = attr ? to_output(*attr, in.budget()) : "";
    for (const Value& x : as_items(in, v, line, "join")) {
      if (!first) out += sep_text;
      first = false;
      in.bytes(sep_text.size());
      out += to_output(attr ? attribute_of(x, attr_path) : x, in.budget());
      in.check_string(out.size(), line);
    }
    return Value::string(std::move(out));
  }
  if (name == "items" || name == "dictsort") {
    if (v.is_undefined()) return Value::new_list();
    if (!v.is_dict()) in.error(line, fmt::format("{} needs a dict, not {}", name, v.type_name()));
    List items;
    in.items(3 * v.dict->items.size());
    for (const auto& [k, x] : v.dict->items) {
      in.bytes(k.size());
      items.push_back(Value::new_list({Value::string(k), x}));
    }
    if (name == "dictsort")
      std::stable_sort(items.begin(), items.end(), [&](const Value& p, const Value& q) {
        in.step(line);
        return compare_values(in, (*p.list)[0], (*q.list)[0], line) < 0;
      });
    return Value::new_list(std::move(items));
  }
  if (name == "unique") {
    List out;
    for (const Value& x : as_items(in, v, line, "unique")) {
      bool seen = false;
      for (const Value& y : out) {
        in.step(line);
        seen = seen || values_equal(x, y, in.budget());
      }
      if (!seen) out.push_back(x);
    }
    return Value::new_list(std::move(out));
  }
  if (name == "sort" || name == "min" || name == "max") {
    const bool reverse = arg(a, 0, "reverse", Value::boolean(false)).truthy();
    const bool case_sensitive = arg(a, 1, "case_sensitive", Value::boolean(false)).truthy();
    const Value* attr = kwarg(a, "attribute");
    const std::string attr_path = attr ? to_output(*attr, in.budget()) : "";
    List items = as_items(in, v, line, name.c_str());
    auto key = [&](const Value& x) {
      Value k = attr ? attribute_of(x, attr_path) : x;
      if (k.is_string() && !case_sensitive) {
        in.bytes(k.str().size());
        k = Value::string(lower(k.str()));
      }
      return k;
    };
    auto less = [&](const Value& p, const Value& q) {
      in.step(line);
      return compare_values(in, key(p), key(q), line) < 0;
    };
    if (name == "min" || name == "max") {
      if (items.empty()) return Value::undefined();
      return name == "min" ? *std::min_element(items.begin(), items.end(), less)
                           : *std::max_element(items.begin(), items.end(), less);
    }
    std::stable_sort(items.begin(), items.end(), less);
    if (reverse) std::reverse(items.begin(), items.end());
    return Value::new_list(std::move(items));
  }
  if (name == "map") {
    List out;
    const Value* attr = kwarg(a, "attribute");
    if (!attr && a.pos.empty()) in.error(line, "map() needs a filter name or attribute=");
    CallArgs sub = rest_args(a, 1);
    const std::string attr_path = attr ? to_output(*attr, in.budget()) : "";
    for (const Value& x : as_items(in, v, line, "map")) {
      in.step(line);
      if (attr) {
        Value r = attribute_of(x, attr_path);
        if (r.is_undefined())
          if (const Value* d = kwarg(a, "default")) r = *d;
        out.push_back(r);
      } else {
        out.push_back(apply_filter(in, need_string(in, a.pos[0], line, "map()"), x, sub));
      }
    }
    return Value::new_list(std::move(out));
  }
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
    const bool by_attr = name.ends_with("attr");
    const bool keep = name.starts_with("select");
    const size_t t = by_attr ? 1 : 0;
    std::string attr = by_attr ? need_string(in, arg(a, 0, "attribute"), line, name.c_str()) : "";
    CallArgs sub = rest_args(a, t + 1);
    sub.kw.clear();
    List out;
    for (const Value& x : as_items(in, v, line, name.c_str())) {
      in.step(line);
      const Value subject = by_attr ? attribute_of(x, attr) : x;
      const bool ok = a.pos.size() > t ? apply_test(in, need_string(in, a.pos[t], line, name.c_str()), subject, sub)
                                       : subject.truthy();
      if (ok == keep) out.push_back(x);
    }
    return Value::new_list(std::move(out));
  }
  if (name == "sum") {
    const Value* attr = kwarg(a, "attribute");
    const std::string attr_path = attr ? to_output(*attr, in.budget()) : "";
    Value total = arg(a, 1, "start", Value::integer(0));
    for (const Value& x : as_items(in, v, line, "sum")) {
      const Value y = attr ? attribute_of(x, attr_path) : x;
      if (!y.is_number() || !total.is_number()) in.error(line, "sum() needs numbers");
      total = total.is_int() && y.is_int() ? Value::integer(total.i + y.i) : Value::number(total.as_double() + y.as_double());
    }
    return total;
  }
  if (name == "int" || name == "float") {
    const bool want_int = name == "int";
    const Value fallback = arg(a, 0, "default", want_int ? Value::integer(0) : Value::number(0.0));
    if (v.is_string()) {
      in.bytes(v.str().size());
      return number_from_string(v.str(), want_int, fallback);
    }
    if (v.kind == Value::Kind::kBool) return want_int ? Value::integer(v.b) : Value::number(v.b);
    if (v.is_number()) {
      if (!want_int) return Value::number(v.as_double());
      if (v.is_int()) return v;
      if (!std::isfinite(v.f) || std::fabs(v.f) > 9.2e18) return fallback;
      return Value::integer(int64_t(v.f));
    }
    return fallback;
  }
  if (name == "abs") {
    if (v.is_int()) return Value::integer(v.i < 0 ? -v.i : v.i);
    if (v.is_number()) return Value::number(std::fabs(v.f));
    in.error(line, fmt::format("abs() needs a number, not {}", v.type_name()));
  }
  if (name == "round") {
    if (!v.is_number()) in.error(line, fmt::format("round() needs a number, not {}", v.type_name()));
    const Value prec = arg(a, 0, "precision", Value::integer(0));
    const std::string method = to_output(arg(a, 1, "method", Value::string("common")), in.budget());
    const double p = std::pow(10.0, double(prec.is_int() ? std::clamp<int64_t>(prec.i, -20, 20) : 0));
    const double x = v.as_double() * p;
    const double r = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::round(x);
    return Value::number(r / p);
  }
  if (name == "attr") {
    const std::string key = need_string(in, arg(a, 0, "name"), line, "attr()");
    if (key.starts_with("__")) in.error(line, fmt::format("access to attribute '{}' is not allowed", key));
    return v.is_dict() ? attribute_of(v, key) : Value::undefined();
  }
  // String filters: each reads (and most copy) the whole string.
  if (v.is_undefined()) v = Value::string("");
  if (name == "escape" || name == "e" || name == "forceescape") {
    const std::string text = to_output(v, in.budget());
    in.check_string(text.size() * 5, line);  // the longest escape is 5 bytes
    in.bytes(text.size() * 5);
    return Value::string(html_escape(text));
  }
  if (!v.is_string()) in.error(line, fmt::format("filter '{}' needs a string, not {}", name, v.type_name()));
  const std::string& s = v.str();
  in.bytes(s.size());
  if (name == "trim") return Value::string(strip(s, arg(a, 0, "chars", Value::none()), true, true));
  if (name == "upper") return Value::string(upper(s));
  if (name == "lower") return Value::string(lower(s));
  if (name == "title") return Value::string(title_case(s, false));
  if (name == "capitalize") return Value::string(title_case(lower(s), true));
  if (name == "replace") {
    const std::string from = need_string(in, arg(a, 0, "old"), line, "replace()");
    const std::string to = need_string(in, arg(a, 1, "new"), line, "replace()");
    const Value count = arg(a, 2, "count", Value::none());
    return Value::string(replace_all(in, s, from, to, count.is_int() ? count.i : -1, line));
  }
  if (name == "wordcount") {  // counted, not split into a list of words
    int64_t n = 0;
    for (size_t k = 0; k < s.size(); ++k) n += !is_space(s[k]) && (k == 0 || is_space(s[k - 1]));
    return Value::integer(n);
  }
  if (name == "indent") {
    const Value w = arg(a, 0, "width", Value::integer(4));
    const bool first = arg(a, 1, "first", Value::boolean(false)).truthy();
    const bool blank = arg(a, 2, "blank", Value::boolean(false)).truthy();
    const std::string pad = w.is_string() ? w.str() : std::string(size_t(std::clamp<int64_t>(w.is_int() ? w.i : 4, 0, 256)), ' ');
    std::string out;
    size_t pos = 0;
    for (bool is_first = true;; is_first = false) {
      const size_t nl = s.find('\n', pos);
      const std::string_view ln = std::string_view(s).substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      if ((!is_first || first) && (blank || !ln.empty())) out += pad;
      out += ln;
      in.check_string(out.size(), line);
      if (nl == std::string::npos) break;
      out += '\n';
      pos = nl + 1;
    }
    in.bytes(out.size());
    return Value::string(std::move(out));
  }
  in.error(line, fmt::format("unknown filter '{}'", name));
}

bool apply_test(Interpreter& in, const std::string& name, const Value& v, CallArgs& a) {
  const int line = a.line;
  using K = Value::Kind;
  auto other = [&]() {
    if (a.pos.empty()) in.error(line, fmt::format("test '{}' needs an argument", name));
    return a.pos[0];
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.kind == K::kBool;
  if (name == "true") return v.kind == K::kBool && v.b;
  if (name == "false") return v.kind == K::kBool && !v.b;
  if (name == "integer") return v.kind == K::kInt;
  if (name == "float") return v.kind == K::kFloat;
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_list() || v.is_dict() || v.is_string();
  if (name == "sequence") return v.is_list() || v.is_dict() || v.is_string();
  if (name == "callable") return v.kind == K::kCallable;
  if (name == "odd" || name == "even") {
    if (!v.is_int()) in.error(line, fmt::format("test '{}' needs an integer, not {}", name, v.type_name()));
    return (v.i % 2 != 0) == (name == "odd");
  }
  if (name == "divisibleby") {
    const Value d = other();
    if (!v.is_int() || !d.is_int() || d.i == 0) in.error(line, "divisibleby needs integers (and a non-zero divisor)");
    return v.i % d.i == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return values_equal(v, other(), in.budget());
  if (name == "ne" || name == "!=") return !values_equal(v, other(), in.budget());
  if (name == "sameas") {
    const Value o = other();
    if (v.kind != o.kind) return false;
    if (v.is_list()) return v.list == o.list;
    if (v.is_dict()) return v.dict == o.dict;
    return values_equal(v, o, in.budget());
  }
  if (name == "lt" || name == "lessthan" || name == "<") return compare_values(in, v, other(), line) < 0;
  if (name == "gt" || name == "greaterthan" || name == ">") return compare_values(in, v, other(), line) > 0;
  if (name == "le" || name == "<=") return compare_values(in, v, other(), line) <= 0;
  if (name == "ge" || name == ">=") return compare_values(in, v, other(), line) >= 0;
  if (name == "in") {
    const Value o = other();
    if (o.is_string()) {
      in.bytes(o.str().size());
      return v.is_string() && o.str().find(v.str()) != std::string::npos;
    }
    if (o.is_dict()) return v.is_string() && o.dict->find(v.str());
    for (const Value& x : as_items(in, o, line, "in"))
      if (values_equal(v, x, in.budget())) return true;
    return false;
  }
  if (name == "lower" || name == "upper") {
    if (!v.is_string()) return false;
    in.bytes(v.str().size());
    return (name == "lower" ? lower(v.str()) : upper(v.str())) == v.str();
  }
  in.error(line, fmt::format("unknown test '{}'", name));
}

}  // namespace frugal::jinja
