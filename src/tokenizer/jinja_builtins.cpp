// Built-in filters, tests, methods and global functions of the chat-template interpreter.
#include <algorithm>
#include <cmath>
#include <ctime>

#include "core/error.h"
#include "tokenizer/jinja_interp.h"
#include "tokenizer/jinja_strings.h"

namespace frugal::jinja {

const Value* kwarg(const CallArgs& a, const char* name) {
  for (const auto& [k, v] : a.kw)
    if (k == name) return &v;
  return nullptr;
}

// Positional argument `index` or keyword `name`, else `fallback`.
Value arg(const CallArgs& a, size_t index, const char* name, Value fallback) {
  if (index < a.pos.size()) return a.pos[index];
  if (const Value* v = kwarg(a, name)) return *v;
  return fallback;
}

std::string need_string(Interpreter& in, const Value& v, int line, const char* what) {
  if (!v.is_string()) in.error(line, fmt::format("{} needs a string, not {}", what, v.type_name()));
  return v.s;
}

// UTF-8 code point boundaries (lenient: a stray byte counts as one code point).
std::vector<std::string> code_points(const std::string& s) {
  std::vector<std::string> out;
  for (size_t k = 0; k < s.size();) {
    const unsigned char c = s[k];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (k + n > s.size()) n = 1;
    out.push_back(s.substr(k, n));
    k += n;
  }
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string strip(const std::string& s, const Value& chars, bool left, bool right) {
  auto strip_char = [&](char c) {
    return chars.is_string() ? chars.s.find(c) != std::string::npos : is_space(c);
  };
  size_t b = 0, e = s.size();
  if (left)
    while (b < e && strip_char(s[b])) ++b;
  if (right)
    while (e > b && strip_char(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::string replace_all(Interpreter& in, const std::string& s, const std::string& from, const std::string& to,
                        int64_t count, int line) {
  if (from.empty()) return s;  // (Python inserts between characters; not needed by templates)
  std::string out;
  size_t pos = 0;
  for (int64_t n = 0; count < 0 || n < count; ++n) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += to;
    in.check_string(out.size(), line);
    pos = hit + from.size();
  }
  out.append(s, pos, std::string::npos);
  in.check_string(out.size(), line);
  return out;
}

Value split(Interpreter& in, const std::string& s, const Value& sep, int64_t maxsplit, int line) {
  List parts;
  if (!sep.is_string()) {
    size_t k = 0;
    while (k < s.size()) {
      while (k < s.size() && is_space(s[k])) ++k;
      if (k >= s.size()) break;
      if (maxsplit >= 0 && int64_t(parts.size()) >= maxsplit) {
        size_t e = s.size();
        while (e > k && is_space(s[e - 1])) --e;
        parts.push_back(Value::string(s.substr(k, e - k)));
        break;
      }
      size_t e = k;
      while (e < s.size() && !is_space(s[e])) ++e;
      parts.push_back(Value::string(s.substr(k, e - k)));
      k = e;
    }
  } else {
    if (sep.s.empty()) in.error(line, "split(): empty separator");
    size_t pos = 0;
    while (true) {
      const size_t hit = (maxsplit >= 0 && int64_t(parts.size()) >= maxsplit) ? std::string::npos : s.find(sep.s, pos);
      if (hit == std::string::npos) {
        parts.push_back(Value::string(s.substr(pos)));
        break;
      }
      parts.push_back(Value::string(s.substr(pos, hit - pos)));
      pos = hit + sep.s.size();
    }
  }
  in.check_list(parts.size(), line);
  return Value::new_list(std::move(parts));
}

bool prefix_match(Interpreter& in, const std::string& s, const Value& p, bool at_start, int line) {
  auto one = [&](const Value& x) {
    const std::string t = need_string(in, x, line, at_start ? "startswith()" : "endswith()");
    return at_start ? s.starts_with(t) : s.ends_with(t);
  };
  if (p.is_list()) {
    for (const Value& x : *p.list)
      if (one(x)) return true;
    return false;
  }
  return one(p);
}

std::string title_case(const std::string& s, bool only_first) {
  std::string out = s;
  bool start = true;
  for (char& c : out) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alpha) {
      c = start ? char(std::toupper((unsigned char)c)) : char(std::tolower((unsigned char)c));
      start = false;
    } else if (!only_first) {
      start = !(c >= '0' && c <= '9') && !(static_cast<unsigned char>(c) >= 0x80);
    }
  }
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower((unsigned char)c));
  return s;
}
std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper((unsigned char)c));
  return s;
}

int compare_values(Interpreter& in, const Value& a, const Value& b, int line) {
  if (a.is_number() && b.is_number()) return a.as_double() < b.as_double() ? -1 : a.as_double() > b.as_double() ? 1 : 0;
  if (a.is_string() && b.is_string()) return a.s.compare(b.s);
  if (a.kind == Value::Kind::kBool && b.kind == Value::Kind::kBool) return int(a.b) - int(b.b);
  in.error(line, fmt::format("cannot compare {} with {}", a.type_name(), b.type_name()));
}

Value attribute_of(const Value& item, const std::string& path) {
  Value cur = item;
  size_t pos = 0;
  while (pos <= path.size()) {
    const size_t dot = path.find('.', pos);
    const std::string key = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (cur.is_dict()) {
      const Value* v = cur.dict->find(key);
      cur = v ? *v : Value::undefined();
    } else if (cur.is_list() && !key.empty() && std::all_of(key.begin(), key.end(), ::isdigit)) {
      const size_t idx = std::stoul(key);
      cur = idx < cur.list->size() ? (*cur.list)[idx] : Value::undefined();
    } else {
      return Value::undefined();
    }
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return cur;
}

List as_items(Interpreter& in, const Value& v, int line, const char* what) {
  if (v.is_list()) return *v.list;
  if (v.is_dict()) {
    List keys;
    for (const auto& [k, x] : v.dict->items) keys.push_back(Value::string(k));
    return keys;
  }
  if (v.is_string()) {
    List chars;
    for (std::string& c : code_points(v.s)) chars.push_back(Value::string(std::move(c)));
    return chars;
  }
  if (v.is_undefined()) return {};
  in.error(line, fmt::format("{} needs a list, not {}", what, v.type_name()));
}

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

Value slice_value(Interpreter& in, const Value& obj, const Value& start, const Value& stop, const Value& step,
                  int line) {
  List items;
  const bool str = obj.is_string();
  std::vector<std::string> cps;
  if (str) {
    cps = code_points(obj.s);
  } else if (obj.is_list()) {
    items = *obj.list;
  } else {
    in.error(line, fmt::format("cannot slice a value of type {}", obj.type_name()));
  }
  const int64_t len = str ? int64_t(cps.size()) : int64_t(items.size());
  auto as_int = [&](const Value& v, const char* what) -> int64_t {
    if (!v.is_int()) in.error(line, fmt::format("slice {} must be an integer, not {}", what, v.type_name()));
    return v.i;
  };
  const int64_t st = step.is_none() || step.is_undefined() ? 1 : as_int(step, "step");
  if (st == 0) in.error(line, "slice step cannot be zero");
  auto clamp = [&](const Value& v, int64_t dflt, const char* what) {
    if (v.is_none() || v.is_undefined()) return dflt;
    int64_t x = as_int(v, what);
    if (x < 0) x += len;
    if (st > 0) return std::clamp<int64_t>(x, 0, len);
    return std::clamp<int64_t>(x, -1, len - 1);
  };
  const int64_t b = clamp(start, st > 0 ? 0 : len - 1, "start");
  const int64_t e = clamp(stop, st > 0 ? len : -1, "stop");
  std::string s;
  List out;
  for (int64_t k = b; st > 0 ? k < e : k > e; k += st) {
    if (str) s += cps[size_t(k)];
    else out.push_back(items[size_t(k)]);
  }
  return str ? Value::string(std::move(s)) : Value::new_list(std::move(out));
}

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
      std::string s = to_json_text(v, indent);
      in.check_string(s.size(), line);
      return Value::string(std::move(s));
    } catch (const Error& e) {
      in.error(line, e.what());
    }
  }
  if (name == "string") return Value::string(to_output(v));
  if (name == "length" || name == "count") {
    if (v.is_string()) return Value::integer(int64_t(utf8_length(v.s)));
    if (v.is_list()) return Value::integer(int64_t(v.list->size()));
    if (v.is_dict()) return Value::integer(int64_t(v.dict->items.size()));
    if (v.is_undefined()) return Value::integer(0);
    in.error(line, fmt::format("length of a {} is undefined", v.type_name()));
  }
  if (name == "list") return Value::new_list(as_items(in, v, line, "list"));
  if (name == "first" || name == "last") {
    List items = as_items(in, v, line, name.c_str());
    if (items.empty()) return Value::undefined();
    return name == "first" ? items.front() : items.back();
  }
  if (name == "reverse") {
    List items = as_items(in, v, line, "reverse");
    std::reverse(items.begin(), items.end());
    if (!v.is_string()) return Value::new_list(std::move(items));
    std::string s;
    for (const Value& c : items) s += c.s;
    return Value::string(std::move(s));
  }
  if (name == "join") {
    const Value sep = arg(a, 0, "d", Value::string(""));
    const Value* attr = kwarg(a, "attribute");
    std::string out;
    bool first = true;
    for (const Value& x : as_items(in, v, line, "join")) {
      if (!first) out += to_output(sep);
      first = false;
      out += to_output(attr ? attribute_of(x, to_output(*attr)) : x);
      in.check_string(out.size(), line);
    }
    return Value::string(std::move(out));
  }
  if (name == "items" || name == "dictsort") {
    if (v.is_undefined()) return Value::new_list();
    if (!v.is_dict()) in.error(line, fmt::format("{} needs a dict, not {}", name, v.type_name()));
    List items;
    for (const auto& [k, x] : v.dict->items) items.push_back(Value::new_list({Value::string(k), x}));
    if (name == "dictsort")
      std::stable_sort(items.begin(), items.end(),
                       [](const Value& p, const Value& q) { return (*p.list)[0].s < (*q.list)[0].s; });
    return Value::new_list(std::move(items));
  }
  if (name == "unique") {
    List out;
    for (const Value& x : as_items(in, v, line, "unique")) {
      bool seen = false;
      for (const Value& y : out) {
        in.step(line);
        seen = seen || values_equal(x, y);
      }
      if (!seen) out.push_back(x);
    }
    return Value::new_list(std::move(out));
  }
  if (name == "sort" || name == "min" || name == "max") {
    const bool reverse = arg(a, 0, "reverse", Value::boolean(false)).truthy();
    const bool case_sensitive = arg(a, 1, "case_sensitive", Value::boolean(false)).truthy();
    const Value* attr = kwarg(a, "attribute");
    List items = as_items(in, v, line, name.c_str());
    auto key = [&](const Value& x) {
      Value k = attr ? attribute_of(x, to_output(*attr)) : x;
      if (k.is_string() && !case_sensitive) k.s = lower(k.s);
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
    for (const Value& x : as_items(in, v, line, "map")) {
      if (attr) {
        Value r = attribute_of(x, to_output(*attr));
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
      const Value subject = by_attr ? attribute_of(x, attr) : x;
      const bool ok = a.pos.size() > t ? apply_test(in, need_string(in, a.pos[t], line, name.c_str()), subject, sub)
                                       : subject.truthy();
      if (ok == keep) out.push_back(x);
    }
    return Value::new_list(std::move(out));
  }
  if (name == "sum") {
    const Value* attr = kwarg(a, "attribute");
    Value total = arg(a, 1, "start", Value::integer(0));
    for (const Value& x : as_items(in, v, line, "sum")) {
      const Value y = attr ? attribute_of(x, to_output(*attr)) : x;
      if (!y.is_number() || !total.is_number()) in.error(line, "sum() needs numbers");
      total = total.is_int() && y.is_int() ? Value::integer(total.i + y.i) : Value::number(total.as_double() + y.as_double());
    }
    return total;
  }
  if (name == "int" || name == "float") {
    const bool want_int = name == "int";
    const Value fallback = arg(a, 0, "default", want_int ? Value::integer(0) : Value::number(0.0));
    if (v.is_string()) return number_from_string(v.s, want_int, fallback);
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
    const std::string method = to_output(arg(a, 1, "method", Value::string("common")));
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
  // String filters.
  if (v.is_undefined()) v = Value::string("");
  if (name == "escape" || name == "e" || name == "forceescape") return Value::string(html_escape(to_output(v)));
  if (!v.is_string()) in.error(line, fmt::format("filter '{}' needs a string, not {}", name, v.type_name()));
  if (name == "trim") return Value::string(strip(v.s, arg(a, 0, "chars", Value::none()), true, true));
  if (name == "upper") return Value::string(upper(v.s));
  if (name == "lower") return Value::string(lower(v.s));
  if (name == "title") return Value::string(title_case(v.s, false));
  if (name == "capitalize") return Value::string(title_case(lower(v.s), true));
  if (name == "replace") {
    const std::string from = need_string(in, arg(a, 0, "old"), line, "replace()");
    const std::string to = need_string(in, arg(a, 1, "new"), line, "replace()");
    const Value count = arg(a, 2, "count", Value::none());
    return Value::string(replace_all(in, v.s, from, to, count.is_int() ? count.i : -1, line));
  }
  if (name == "wordcount") return Value::integer(int64_t(split(in, v.s, Value::none(), -1, line).list->size()));
  if (name == "indent") {
    const Value w = arg(a, 0, "width", Value::integer(4));
    const bool first = arg(a, 1, "first", Value::boolean(false)).truthy();
    const bool blank = arg(a, 2, "blank", Value::boolean(false)).truthy();
    const std::string pad = w.is_string() ? w.s : std::string(size_t(std::clamp<int64_t>(w.is_int() ? w.i : 4, 0, 256)), ' ');
    std::string out;
    size_t pos = 0;
    for (bool is_first = true;; is_first = false) {
      const size_t nl = v.s.find('\n', pos);
      const std::string ln = v.s.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      if ((!is_first || first) && (blank || !ln.empty())) out += pad;
      out += ln;
      in.check_string(out.size(), line);
      if (nl == std::string::npos) break;
      out += '\n';
      pos = nl + 1;
    }
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
  if (name == "eq" || name == "equalto" || name == "==") return values_equal(v, other());
  if (name == "ne" || name == "!=") return !values_equal(v, other());
  if (name == "sameas") {
    const Value o = other();
    if (v.kind != o.kind) return false;
    if (v.is_list()) return v.list == o.list;
    if (v.is_dict()) return v.dict == o.dict;
    return values_equal(v, o);
  }
  if (name == "lt" || name == "lessthan" || name == "<") return compare_values(in, v, other(), line) < 0;
  if (name == "gt" || name == "greaterthan" || name == ">") return compare_values(in, v, other(), line) > 0;
  if (name == "le" || name == "<=") return compare_values(in, v, other(), line) <= 0;
  if (name == "ge" || name == ">=") return compare_values(in, v, other(), line) >= 0;
  if (name == "in") {
    const Value o = other();
    if (o.is_string()) return v.is_string() && o.s.find(v.s) != std::string::npos;
    if (o.is_dict()) return v.is_string() && o.dict->find(v.s);
    for (const Value& x : as_items(in, o, line, "in")) if (values_equal(v, x)) return true;
    return false;
  }
  if (name == "lower") return v.is_string() && lower(v.s) == v.s;
  if (name == "upper") return v.is_string() && upper(v.s) == v.s;
  in.error(line, fmt::format("unknown test '{}'", name));
}

}  // namespace frugal::jinja
