// Options: text values, rules, "did you mean" hints, overrides, the TOML writer and the CLI flags.
#include "core/options.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "core/options_impl.h"

namespace frugal {

namespace options_impl {

constexpr double kInf = std::numeric_limits<double>::infinity();

// (appends only: GCC 12 warns falsely on chained string +)
std::string expected_one_of(std::span<const std::string_view> names) {
  std::string out = "expected one of ";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += '|';
    out += names[i];
  }
  return out;
}

// ---- text -> typed value ----

std::string parse_text(std::string_view s, int64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return "expected an integer";
  return {};
}
std::string parse_text(std::string_view s, uint64_t& out) {
  int64_t v;
  if (!parse_text(s, v).empty() || v < 0) return "expected a non-negative integer";
  out = uint64_t(v);
  return {};
}
std::string parse_text(std::string_view s, double& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return "expected a number";
  return {};
}
std::string parse_text(std::string_view s, bool& out) {
  if (s == "true" || s == "1" || s == "yes" || s == "on")
    out = true;
  else if (s == "false" || s == "0" || s == "no" || s == "off")
    out = false;
  else
    return "expected true or false";
  return {};
}
std::string parse_text(std::string_view s, std::string& out) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) s = s.substr(1, s.size() - 2);
  out = std::string(s);
  return {};
}
std::string parse_text(std::string_view s, EnumValue& out) {
  for (size_t i = 0; i < out.names.size(); ++i)
    if (s == out.names[i]) {
      out.index = i;
      return {};
    }
  return expected_one_of(out.names);
}

// ---- range / choice checks ----

namespace {

std::string describe_range(const OptionRule& r) {
  const bool has_lo = r.lo > -kInf, has_hi = r.hi < kInf;
  auto num = [](double x) { return fmt::format("{}", x); };
  if (has_lo && has_hi)
    return fmt::format("must be in {}{}, {}{}", r.lo_open ? "(" : "[", num(r.lo), num(r.hi), r.hi_open ? ")" : "]");
  if (has_lo) return fmt::format("must be {} {}", r.lo_open ? ">" : ">=", num(r.lo));
  return fmt::format("must be {} {}", r.hi_open ? "<" : "<=", num(r.hi));
}
std::string check_number(const OptionRule& r, double v) {
  if (!std::isfinite(v)) return "must be finite";
  if (v < r.lo || (r.lo_open && v == r.lo) || v > r.hi || (r.hi_open && v == r.hi)) return describe_range(r);
  return {};
}

}  // namespace

std::string check(const OptionRule& r, int64_t v) { return check_number(r, double(v)); }
std::string check(const OptionRule& r, uint64_t v) { return check_number(r, double(v)); }
std::string check(const OptionRule& r, double v) { return check_number(r, v); }
std::string check(const OptionRule&, bool) { return {}; }
std::string check(const OptionRule& r, const std::string& v) {
  if (r.nonempty && v.empty()) return "must not be empty";
  if (r.choices.empty() || std::find(r.choices.begin(), r.choices.end(), v) != r.choices.end()) return {};
  return r.note.empty() ? expected_one_of(r.choices) : std::string(r.note);
}
std::string check(const OptionRule&, const EnumValue&) { return {}; }

// ---- typed value -> TOML text ----

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"')
      out += "\\\"";
    else if (ch == '\\')
      out += "\\\\";
    else if (ch == '\n')
      out += "\\n";
    else if (ch == '\t')
      out += "\\t";
    else if (u < 0x20 || u == 0x7f)
      out += fmt::format("\\u{:04X}", u);
    else
      out += ch;
  }
  return out + "\"";
}

namespace {

std::string to_text(int64_t v) { return std::to_string(v); }
std::string to_text(uint64_t v) { return std::to_string(v); }
std::string to_text(double v) {
  std::string s = fmt::format("{}", v);                         // shortest text that reads back to the same double
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // keep it a TOML float
  return s;
}
std::string to_text(bool v) { return v ? "true" : "false"; }
std::string to_text(const std::string& v) { return toml_string(v); }
std::string to_text(const EnumValue& v) { return toml_string(v.names[v.index]); }

std::string field_text(const Options::Ref& ref) {
  return read(ref, [](const auto& v) { return to_text(v); });
}

template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, int64_t>)
    return "int";
  else if constexpr (std::is_same_v<T, uint64_t>)
    return "uint";
  else if constexpr (std::is_same_v<T, double>)
    return "float";
  else if constexpr (std::is_same_v<T, bool>)
    return "bool";
  else if constexpr (std::is_same_v<T, std::string>)
    return "string";
  else
    return "enum";
}

// The closest candidate if it is close enough to be a plausible typo (or a prefix), else "".
std::string closest(std::string_view given, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::numeric_limits<size_t>::max();
  for (const std::string& c : candidates) {
    size_t d = edit_distance(given, c);
    if (d < best_d) best_d = d, best = c;
  }
  const size_t limit = std::max<size_t>(2, given.size() / 3);
  if (best_d <= limit) return best;
  for (const std::string& c : candidates)
    if (given.size() >= 3 && (c.starts_with(given) || given.starts_with(c))) return c;
  return "";
}

}  // namespace
}  // namespace options_impl

using namespace options_impl;

// ---- keys and hints ----

std::vector<std::string> Options::all_keys() const {
  std::vector<std::string> keys;
  for (const Field& f : fields_) keys.push_back(fmt::format("{}.{}", f.meta.section, f.meta.key));
  return keys;
}
std::vector<std::string> Options::all_sections() const {
  std::vector<std::string> out;
  for (const Field& f : fields_)
    if (std::find(out.begin(), out.end(), f.meta.section) == out.end()) out.emplace_back(f.meta.section);
  return out;
}
bool Options::known_section(std::string_view section) const {
  return std::any_of(fields_.begin(), fields_.end(), [&](const Field& f) { return f.meta.section == section; });
}
std::string Options::full_key_of(std::string_view key) const {
  for (const Field& f : fields_)
    if (f.meta.key == key) return fmt::format("{}.{}", f.meta.section, f.meta.key);
  return "";
}
const Options::Field* Options::find(std::string_view section, std::string_view key) const {
  for (const Field& f : fields_)
    if (f.meta.section == section && f.meta.key == key) return &f;
  return nullptr;
}

// " (did you mean 'optim.lr'?)" for an unknown section.key, or the section's valid keys.
std::string Options::key_hint(std::string_view section, std::string_view key) const {
  const std::vector<std::string> keys = all_keys();
  const std::string full = fmt::format("{}.{}", section, key);
  // The same key in another section ([train] lr) is the most likely mistake.
  if (const std::string k = full_key_of(key); !k.empty()) return fmt::format(" (did you mean '{}'?)", k);
  std::string best = closest(full, keys);
  if (!best.empty()) return fmt::format(" (did you mean '{}'?)", best);
  std::string list;
  for (const std::string& k : keys)
    if (k.starts_with(fmt::format("{}.", section))) {
      if (!list.empty()) list += ", ";
      list += std::string_view(k).substr(section.size() + 1);
    }
  return list.empty() ? "" : fmt::format(" (valid keys in [{}]: {})", section, list);
}
std::string Options::section_hint(std::string_view section) const {
  const std::vector<std::string> sections = all_sections();
  std::string best = closest(section, sections);
  if (!best.empty()) return fmt::format(" (did you mean '[{}]'?)", best);
  std::string list;
  for (const std::string& s : sections) {
    if (!list.empty()) list += ", ";
    list += s;
  }
  return fmt::format(" (valid sections: {})", list);
}

void Options::unknown_key(std::string_view where, std::string_view section, std::string_view key) const {
  if (!known_section(section))
    fail(ErrorKind::kConfig, "{}: unknown section '{}'{}", where, section, section_hint(section));
  fail(ErrorKind::kConfig, "{}: unknown key '{}.{}'{}", where, section, key, key_hint(section, key));
}

// ---- setting values ----

void Options::set(std::string_view key, std::string_view value, std::string_view source) {
  const size_t dot = key.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == key.size())
    fail(ErrorKind::kConfig, "{}: '{}' is not a section.key name{}", source, key,
         full_key_of(key).empty() ? "" : fmt::format(" (did you mean '{}'?)", full_key_of(key)));
  const std::string_view section = key.substr(0, dot), name = key.substr(dot + 1);
  const Field* f = find(section, name);
  if (!f) unknown_key(source, section, name);
  const std::string problem = update(f->ref, [&](auto& v) {
    std::string p = parse_text(value, v);
    return p.empty() ? check(f->meta.rule, v) : p;
  });
  if (!problem.empty()) fail(ErrorKind::kConfig, "{}: {} = '{}': {}", source, key, value, problem);
}

void Options::set_assignment(std::string_view assignment, std::string_view source) {
  const size_t eq = assignment.find('=');
  if (eq == std::string_view::npos)
    fail(ErrorKind::kConfig, "{}: '{}' is not of the form section.key=value", source, assignment);
  set(assignment.substr(0, eq), assignment.substr(eq + 1), source);
}

void load_options(Options& o, const std::string* toml_path, const std::vector<std::string>& overrides,
                  const std::function<void()>& validate) {
  if (toml_path) o.load_toml(*toml_path);
  for (const std::string& ov : overrides) o.set_assignment(ov, fmt::format("override '{}'", ov));
  try {
    validate();
  } catch (const Error& e) {
    if (!toml_path) throw;
    fail(ErrorKind::kConfig, "{} (with overrides): {}", *toml_path, e.what());
  }
}

// ---- the table, as TOML, rows and flags ----

std::string Options::to_toml(std::string_view header) const {
  std::string out = fmt::format("{}\n", header);
  std::string_view section;
  for (const Field& f : fields_) {
    if (f.meta.section != section) {
      out += fmt::format("{}[{}]\n", section.empty() ? "" : "\n", f.meta.section);
      section = f.meta.section;
    }
    out += fmt::format("{} = {}  # {}\n", f.meta.key, field_text(f.ref), f.meta.help);
  }
  return out;
}

std::vector<OptionField> Options::fields() const {
  std::vector<OptionField> out;
  for (const Field& f : fields_) {
    const char* type = read(f.ref, [](const auto& v) { return type_name<std::decay_t<decltype(v)>>(); });
    out.push_back(
        {fmt::format("{}.{}", f.meta.section, f.meta.key), type, field_text(f.ref), std::string(f.meta.help)});
  }
  return out;
}

std::vector<CliFlag> Options::cli_flags() const {
  std::vector<CliFlag> out;
  for (const Field& f : fields_) {
    const OptionMeta& m = f.meta;
    if (m.flag.empty()) continue;
    using K = CliFlag::Kind;
    const bool is_bool = std::holds_alternative<bool*>(f.ref);
    const K kind = !is_bool ? K::kValue : m.flag.starts_with("no-") ? K::kSetFalse : K::kSetTrue;
    std::string help;
    if (kind == K::kValue)
      help = fmt::format("{} (default {}; {}.{})", m.help, field_text(f.ref), m.section, m.key);
    else
      help = fmt::format("sets {}.{} = {}: {}", m.section, m.key, kind == K::kSetTrue, m.help);
    out.push_back({std::string(m.flag), fmt::format("{}.{}", m.section, m.key), kind, help});
  }
  return out;
}

std::string flag_override(const CliFlag& f, std::string_view value) {
  switch (f.kind) {
    case CliFlag::Kind::kSetTrue:
      return f.key + "=true";
    case CliFlag::Kind::kSetFalse:
      return f.key + "=false";
    case CliFlag::Kind::kValue:
      break;
  }
  return fmt::format("{}={}", f.key, value);
}

std::vector<std::string> parse_dotted_overrides(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const size_t eq = a.find('=');
    const std::string name = a.substr(0, eq);
    if (!a.starts_with("--") || name.find('.') == std::string::npos || name.size() < 5)
      fail(ErrorKind::kConfig, "unexpected argument '{}' (config overrides have the form --section.key=value)", a);
    if (eq != std::string::npos) {
      out.push_back(a.substr(2));
    } else {
      if (i + 1 >= args.size()) fail(ErrorKind::kConfig, "'{}' needs a value (--section.key=value)", a);
      out.push_back(fmt::format("{}={}", name.substr(2), args[++i]));
    }
  }
  return out;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace frugal
