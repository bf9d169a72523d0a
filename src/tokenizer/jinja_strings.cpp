// Helpers shared by the chat-template built-ins: arguments, UTF-8 code points, strip, replace,
// split, comparisons, item access and slicing. Each charges the interpreter's budget for the text
// and items it scans or builds (jinja_budget.h).
#include <algorithm>

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
  in.bytes(v.str().size());  // the copy returned
  return v.str();
}

size_t code_point_bytes(const std::string& s, size_t k) {
  const unsigned char c = s[k];
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  if (k + n > s.size()) n = 1;
  return n;
}

size_t code_point_count(const std::string& s) {
  size_t n = 0;
  for (size_t k = 0; k < s.size(); k += code_point_bytes(s, k)) ++n;
  return n;
}

// UTF-8 code point boundaries (lenient: a stray byte counts as one code point).
std::vector<std::string> code_points(const std::string& s) {
  std::vector<std::string> out;
  for (size_t k = 0; k < s.size();) {
    const size_t n = code_point_bytes(s, k);
    out.push_back(s.substr(k, n));
    k += n;
  }
  return out;
}

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string strip(const std::string& s, const Value& chars, bool left, bool right) {
  auto strip_char = [&](char c) {
    return chars.is_string() ? chars.str().find(c) != std::string::npos : is_space(c);
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
  in.bytes(s.size());
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
  in.bytes(out.size());
  return out;
}

Value split(Interpreter& in, const std::string& s, const Value& sep, int64_t maxsplit, int line) {
  in.bytes(s.size());
  List parts;
  auto push = [&](size_t from, size_t len) {
    in.check_list(parts.size() + 1, line);  // as it grows: a text of separators makes millions of parts
    parts.push_back(Value::string(s.substr(from, len)));
  };
  if (!sep.is_string()) {
    size_t k = 0;
    while (k < s.size()) {
      while (k < s.size() && is_space(s[k])) ++k;
      if (k >= s.size()) break;
      if (maxsplit >= 0 && int64_t(parts.size()) >= maxsplit) {
        size_t e = s.size();
        while (e > k && is_space(s[e - 1])) --e;
        push(k, e - k);
        break;
      }
      size_t e = k;
      while (e < s.size() && !is_space(s[e])) ++e;
      push(k, e - k);
      k = e;
    }
  } else {
    const std::string& sp = sep.str();
    if (sp.empty()) in.error(line, "split(): empty separator");
    size_t pos = 0;
    while (true) {
      const size_t hit = (maxsplit >= 0 && int64_t(parts.size()) >= maxsplit) ? std::string::npos : s.find(sp, pos);
      if (hit == std::string::npos) {
        push(pos, std::string::npos);
        break;
      }
      push(pos, hit - pos);
      pos = hit + sp.size();
    }
  }
  in.items(parts.size());
  return Value::new_list(std::move(parts));
}

bool prefix_match(Interpreter& in, const std::string& s, const Value& p, bool at_start, int line) {
  auto one = [&](const Value& x) {
    const std::string t = need_string(in, x, line, at_start ? "startswith()" : "endswith()");
    return at_start ? s.starts_with(t) : s.ends_with(t);
  };
  if (p.is_list()) {
    in.items(p.list->size());
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
  if (a.is_string() && b.is_string()) {
    in.bytes(std::min(a.str().size(), b.str().size()));
    return a.str().compare(b.str());
  }
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
    } else if (cur.is_list() && !key.empty() && key.size() < 19 && std::all_of(key.begin(), key.end(), ::isdigit)) {
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
  if (v.is_list()) {
    in.items(v.list->size());
    return *v.list;
  }
  if (v.is_dict()) {
    in.items(v.dict->items.size());
    List keys;
    keys.reserve(v.dict->items.size());
    for (const auto& [k, x] : v.dict->items) {
      in.bytes(k.size());
      keys.push_back(Value::string(k));
    }
    return keys;
  }
  if (v.is_string()) {
    const std::string& s = v.str();
    in.bytes(s.size());
    const size_t n = code_point_count(s);
    in.check_list(n, line);  // before making one string per character
    in.items(n);
    List chars;
    chars.reserve(n);
    for (size_t k = 0; k < s.size();) {
      const size_t len = code_point_bytes(s, k);
      chars.push_back(Value::string(s.substr(k, len)));
      k += len;
    }
    return chars;
  }
  if (v.is_undefined()) return {};
  in.error(line, fmt::format("{} needs a list, not {}", what, v.type_name()));
}

Value slice_value(Interpreter& in, const Value& obj, const Value& start, const Value& stop, const Value& step,
                  int line) {
  const bool str = obj.is_string();
  if (!str && !obj.is_list()) in.error(line, fmt::format("cannot slice a value of type {}", obj.type_name()));
  const std::string& s = obj.str();
  if (str) in.bytes(s.size());
  const int64_t len = str ? int64_t(code_point_count(s)) : int64_t(obj.list->size());
  auto as_int = [&](const Value& v, const char* what) -> int64_t {
    if (!v.is_int()) in.error(line, fmt::format("slice {} must be an integer, not {}", what, v.type_name()));
    return v.i;
  };
  const int64_t st = step.is_none() || step.is_undefined() ? 1 : as_int(step, "step");
  if (st == 0) in.error(line, "slice step cannot be zero");
  if (st == INT64_MIN) in.error(line, "slice step out of range");
  auto clamp = [&](const Value& v, int64_t dflt, const char* what) {
    if (v.is_none() || v.is_undefined()) return dflt;
    int64_t x = as_int(v, what);
    if (x < 0) x = x < -len ? -1 : x + len;  // before the start: clamped below
    if (st > 0) return std::clamp<int64_t>(x, 0, len);
    return std::clamp<int64_t>(x, -1, len - 1);
  };
  const int64_t b = clamp(start, st > 0 ? 0 : len - 1, "start");
  const int64_t e = clamp(stop, st > 0 ? len : -1, "stop");
  // Indices b, b+st, ... before e.
  const int64_t n = st > 0 ? (e > b ? (e - b - 1) / st + 1 : 0) : (b > e ? (b - e - 1) / -st + 1 : 0);
  in.items(uint64_t(n));
  if (!str) {
    List out;
    out.reserve(size_t(n));
    for (int64_t k = 0; k < n; ++k) out.push_back((*obj.list)[size_t(b + k * st)]);
    return Value::new_list(std::move(out));
  }
  // Byte offset of every code point (and of the end), then the chosen ones in order.
  std::vector<size_t> at;
  at.reserve(size_t(len) + 1);
  for (size_t k = 0; k < s.size(); k += code_point_bytes(s, k)) at.push_back(k);
  at.push_back(s.size());
  in.items(at.size());
  std::string out;
  for (int64_t k = 0; k < n; ++k) {
    const size_t idx = size_t(b + k * st);
    out.append(s, at[idx], at[idx + 1] - at[idx]);
  }
  in.bytes(out.size());
  return Value::string(std::move(out));
}

}  // namespace frugal::jinja
