// Methods of template values (Python's str/list/dict methods that chat templates use) and the
// global functions: range, namespace, raise_exception, strftime_now, dict. Work on strings and
// lists is charged to the interpreter's budget (jinja_budget.h).
#include <algorithm>
#include <ctime>

#include "core/error.h"
#include "tokenizer/jinja_interp.h"
#include "tokenizer/jinja_strings.h"

namespace frugal::jinja {

Value call_method(Interpreter& in, Value& obj, const std::string& name, CallArgs& a) {
  const int line = a.line;
  if (obj.is_string()) {
    const std::string& s = obj.str();
    in.bytes(s.size());  // every string method reads the string (most copy it)
    if (name == "strip") return Value::string(strip(s, arg(a, 0, "chars", Value::none()), true, true));
    if (name == "lstrip") return Value::string(strip(s, arg(a, 0, "chars", Value::none()), true, false));
    if (name == "rstrip") return Value::string(strip(s, arg(a, 0, "chars", Value::none()), false, true));
    if (name == "upper") return Value::string(upper(s));
    if (name == "lower") return Value::string(lower(s));
    if (name == "title") return Value::string(title_case(s, false));
    if (name == "capitalize") return Value::string(title_case(lower(s), true));
    if (name == "startswith" || name == "endswith") {
      if (a.pos.empty()) in.error(line, name + "() needs an argument");
      return Value::boolean(prefix_match(in, s, a.pos[0], name == "startswith", line));
    }
    if (name == "split" || name == "rsplit") {
      const Value sep = arg(a, 0, "sep", Value::none());
      const Value maxsplit = arg(a, 1, "maxsplit", Value::integer(-1));
      if (!maxsplit.is_int()) in.error(line, "split(): maxsplit must be an integer");
      if (name == "rsplit" && maxsplit.i >= 0 && sep.is_string() && !sep.str().empty()) {
        // From the right, collected in reverse (inserting at the front would be quadratic).
        const std::string& sp = sep.str();
        List parts;
        size_t end = s.size();
        for (int64_t k = 0; k < maxsplit.i; ++k) {
          const size_t hit = end >= sp.size() ? s.rfind(sp, end - sp.size()) : std::string::npos;
          if (hit == std::string::npos) break;
          in.check_list(parts.size() + 2, line);
          parts.push_back(Value::string(s.substr(hit + sp.size(), end - hit - sp.size())));
          end = hit;
        }
        parts.push_back(Value::string(s.substr(0, end)));
        std::reverse(parts.begin(), parts.end());
        in.items(parts.size());
        return Value::new_list(std::move(parts));
      }
      return split(in, s, sep, name == "rsplit" ? -1 : maxsplit.i, line);
    }
    if (name == "splitlines") {
      Value parts = split(in, s, Value::string("\n"), -1, line);
      if (!parts.list->empty() && parts.list->back().str().empty()) parts.list->pop_back();
      for (Value& p : *parts.list)
        if (p.str().ends_with("\r")) p = Value::string(p.str().substr(0, p.str().size() - 1));
      return parts;
    }
    if (name == "replace") {
      const std::string from = need_string(in, arg(a, 0, "old"), line, "replace()");
      const std::string to = need_string(in, arg(a, 1, "new"), line, "replace()");
      const Value count = arg(a, 2, "count", Value::integer(-1));
      return Value::string(replace_all(in, s, from, to, count.is_int() ? count.i : -1, line));
    }
    if (name == "find" || name == "rfind" || name == "index" || name == "count") {
      const std::string sub = need_string(in, arg(a, 0, "sub"), line, (name + "()").c_str());
      if (name == "count") {
        if (sub.empty()) return Value::integer(int64_t(utf8_length(s)) + 1);
        int64_t n = 0;
        for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
        return Value::integer(n);
      }
      const size_t hit = name == "rfind" ? s.rfind(sub) : s.find(sub);
      if (hit == std::string::npos) {
        if (name == "index") in.error(line, "index(): substring not found");
        return Value::integer(-1);
      }
      return Value::integer(int64_t(utf8_length(s.substr(0, hit))));  // (a copy, charged above)
    }
    if (name == "join") {
      std::string out;
      bool first = true;
      for (const Value& x : as_items(in, arg(a, 0, "iterable"), line, "join()")) {
        if (!first) out += s;
        first = false;
        in.bytes(s.size());
        out += to_output(x, in.budget());
        in.check_string(out.size(), line);
      }
      return Value::string(std::move(out));
    }
    auto all_of = [&](auto pred) {
      if (s.empty()) return Value::boolean(false);
      for (char c : s)
        if (!pred(static_cast<unsigned char>(c))) return Value::boolean(false);
      return Value::boolean(true);
    };
    if (name == "isdigit") return all_of([](unsigned char c) { return c >= '0' && c <= '9'; });
    if (name == "isalpha") return all_of([](unsigned char c) { return std::isalpha(c) != 0; });
    if (name == "isalnum") return all_of([](unsigned char c) { return std::isalnum(c) != 0; });
    if (name == "isspace") return all_of([](unsigned char c) { return is_space(char(c)); });
    if (name == "islower") return Value::boolean(lower(s) == s && upper(s) != s);
    if (name == "isupper") return Value::boolean(upper(s) == s && lower(s) != s);
  } else if (obj.is_dict()) {
    Dict& d = *obj.dict;
    if (name == "items" || name == "keys" || name == "values") {
      List out;
      in.items(3 * d.items.size());
      for (const auto& [k, v] : d.items) {
        if (name != "values") in.bytes(k.size());
        if (name == "items") out.push_back(Value::new_list({Value::string(k), v}));
        else out.push_back(name == "keys" ? Value::string(k) : v);
      }
      return Value::new_list(std::move(out));
    }
    if (name == "get") {
      const Value key = arg(a, 0, "key");
      const Value* v = key.is_string() ? d.find(key.str()) : nullptr;
      return v ? *v : arg(a, 1, "default", Value::none());
    }
    if (name == "update") {
      for (const Value& other : a.pos)
        if (other.is_dict()) {
          in.check_list(d.items.size() + other.dict->items.size(), line);
          in.items(other.dict->items.size());
          for (const auto& [k, v] : other.dict->items) {
            in.bytes(k.size());
            d.set(k, v);
          }
        }
      for (const auto& [k, v] : a.kw) d.set(k, v);
      in.check_list(d.items.size(), line);
      return Value::none();
    }
  } else if (obj.is_list()) {
    List& l = *obj.list;
    if (name == "append") {
      if (a.pos.size() != 1) in.error(line, "append() takes exactly one argument");
      in.check_list(l.size() + 1, line);
      l.push_back(a.pos[0]);
      return Value::none();
    }
    if (name == "extend") {
      const List more = as_items(in, arg(a, 0, "iterable"), line, "extend()");
      in.check_list(l.size() + more.size(), line);
      l.insert(l.end(), more.begin(), more.end());
      return Value::none();
    }
    if (name == "pop") {
      if (l.empty()) in.error(line, "pop() from an empty list");
      const Value idx = arg(a, 0, "index", Value::integer(-1));
      int64_t k = idx.is_int() ? idx.i : -1;
      if (k < 0) k += int64_t(l.size());
      if (k < 0 || k >= int64_t(l.size())) in.error(line, "pop() index out of range");
      Value v = l[size_t(k)];
      in.items(l.size() - size_t(k));  // the items after it move
      l.erase(l.begin() + k);
      return v;
    }
    if (name == "index" || name == "count") {
      const Value x = arg(a, 0, "value");
      int64_t n = 0;
      in.items(l.size());
      for (size_t k = 0; k < l.size(); ++k) {
        if (!values_equal(l[k], x, in.budget())) continue;
        if (name == "index") return Value::integer(int64_t(k));
        ++n;
      }
      if (name == "index") in.error(line, "index(): value not in list");
      return Value::integer(n);
    }
  } else if (obj.is_undefined()) {
    in.error(line, fmt::format("cannot call method '{}' of an undefined value", name));
  }
  in.error(line, fmt::format("{} has no method '{}'", obj.type_name(), name));
}

namespace {

Value builtin(const char* name, std::function<Value(Interpreter&, CallArgs&)> fn) {
  auto c = std::make_shared<Callable>();
  c->name = name;
  c->call = std::move(fn);
  return Value::callable(std::move(c));
}

}  // namespace

void install_globals(Scope& g) {
  g.set("range", builtin("range", [](Interpreter& in, CallArgs& a) {
          for (const Value& v : a.pos)
            if (!v.is_int()) in.error(a.line, fmt::format("range() needs integers, not {}", v.type_name()));
          int64_t start = 0, stop = 0, step = 1;
          if (a.pos.size() == 1) stop = a.pos[0].i;
          else if (a.pos.size() == 2 || a.pos.size() == 3) {
            start = a.pos[0].i;
            stop = a.pos[1].i;
            if (a.pos.size() == 3) step = a.pos[2].i;
          } else {
            in.error(a.line, "range() takes 1 to 3 arguments");
          }
          if (step == 0) in.error(a.line, "range() step must not be zero");
          const __int128 span = step > 0 ? (__int128(stop) - start + step - 1) / step : (__int128(start) - stop - step - 1) / -step;
          const __int128 n = span > 0 ? span : 0;
          in.check_list(n > __int128(in.limits().max_list_items) ? in.limits().max_list_items + 1 : size_t(n), a.line);
          in.items(uint64_t(n));
          List out;
          out.reserve(size_t(n));
          for (__int128 k = 0; k < n; ++k) out.push_back(Value::integer(int64_t(start + k * step)));
          return Value::new_list(std::move(out));
        }));
  g.set("namespace", builtin("namespace", [](Interpreter& in, CallArgs& a) {
          Value ns = Value::new_dict(/*is_namespace=*/true);
          for (const Value& v : a.pos) {
            if (!v.is_dict()) in.error(a.line, "namespace() takes a dict or keyword arguments");
            in.items(v.dict->items.size());
            for (const auto& [k, x] : v.dict->items) {
              in.bytes(k.size());
              ns.dict->set(k, x);
            }
          }
          for (const auto& [k, x] : a.kw) ns.dict->set(k, x);
          return ns;
        }));
  g.set("dict", builtin("dict", [](Interpreter& in, CallArgs& a) {
          Value d = Value::new_dict();
          for (const Value& v : a.pos) {
            if (!v.is_dict()) in.error(a.line, "dict() takes a dict or keyword arguments");
            in.items(v.dict->items.size());
            for (const auto& [k, x] : v.dict->items) {
              in.bytes(k.size());
              d.dict->set(k, x);
            }
          }
          for (const auto& [k, x] : a.kw) d.dict->set(k, x);
          return d;
        }));
  g.set("raise_exception", builtin("raise_exception", [](Interpreter& in, CallArgs& a) -> Value {
          const std::string msg = a.pos.empty() ? std::string("(no message)") : to_output(a.pos[0], in.budget());
          fail(ErrorKind::kInvalidArgument, "template line {}: raise_exception: {}", a.line, msg);
        }));
  g.set("strftime_now", builtin("strftime_now", [](Interpreter& in, CallArgs& a) {
          const std::string f = need_string(in, arg(a, 0, "format"), a.line, "strftime_now()");
          if (f.size() > 256) in.error(a.line, "strftime_now(): format too long");
          const std::time_t now = std::time(nullptr);
          std::tm tm{};
          localtime_r(&now, &tm);
          char buf[1024];
          const size_t n = std::strftime(buf, sizeof buf, f.c_str(), &tm);
          return Value::string(std::string(buf, n));
        }));
}

}  // namespace frugal::jinja
