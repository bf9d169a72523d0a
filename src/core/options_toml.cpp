// Options::load_toml: a TOML file ([section] tables of key = value) onto the bound config (toml++).
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "core/error.h"
#include "core/file.h"
#include "core/options.h"
#include "core/options_impl.h"

namespace frugal {

using namespace options_impl;

namespace {

// ---- TOML values -> typed values ----

std::string parse_toml(const toml::node& n, int64_t& out) {
  if (!n.is_integer()) return "expected an integer";
  out = n.as_integer()->get();
  return {};
}
std::string parse_toml(const toml::node& n, uint64_t& out) {
  if (!n.is_integer() || n.as_integer()->get() < 0) return "expected a non-negative integer";
  out = uint64_t(n.as_integer()->get());
  return {};
}
std::string parse_toml(const toml::node& n, double& out) {
  if (n.is_integer())
    out = double(n.as_integer()->get());
  else if (n.is_floating_point())
    out = n.as_floating_point()->get();
  else
    return "expected a number";
  return {};
}
std::string parse_toml(const toml::node& n, bool& out) {
  if (!n.is_boolean()) return "expected true or false";
  out = n.as_boolean()->get();
  return {};
}
std::string parse_toml(const toml::node& n, std::string& out) {
  if (!n.is_string()) return "expected a string";
  out = n.as_string()->get();
  return {};
}
std::string parse_toml(const toml::node& n, EnumValue& out) {
  if (!n.is_string()) return "expected a string";
  return parse_text(n.as_string()->get(), out);
}

// The value as the file wrote it, shortened for an error message.
std::string node_text(const toml::node& n) {
  std::ostringstream os;
  n.visit([&](const auto& v) { os << v; });
  std::string s = n.is_string() ? toml_string(n.as_string()->get()) : os.str();
  if (s.size() > 80) {
    s.resize(77);
    s += "...";
  }
  return s;
}

}  // namespace

void Options::load_toml(const std::string& path) {
  const std::string text = read_file(path);  // kIo naming the file when it is missing
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& p = e.source().begin;
    fail(ErrorKind::kConfig, "{}:{}:{}: invalid TOML: {}", path, p.line, p.column, e.description());
  }
  for (const auto& [sec_key, sec_node] : root) {
    const std::string_view section = sec_key.str();
    const auto& sp = sec_node.source().begin;
    const std::string where = fmt::format("{}:{}:{}", path, sp.line, sp.column);
    const toml::table* table = sec_node.as_table();
    if (!table) {
      // A bare key above the first [section].
      const std::string full = full_key_of(section), in = full.substr(0, full.find('.'));
      fail(ErrorKind::kConfig, "{}: key '{}' is outside any [section]{}", where, section,
           full.empty() ? "" : fmt::format(" (did you mean '{}' under [{}]?)", section, in));
    }
    if (!known_section(section)) unknown_key(where, section, "");
    for (const auto& [k, node] : *table) {
      const std::string_view key = k.str();
      const auto& p = node.source().begin;
      const std::string at = fmt::format("{}:{}:{}", path, p.line, p.column);
      const Field* f = find(section, key);
      if (!f) unknown_key(at, section, key);
      // A named reference: clang before 16 cannot capture a structured binding in a lambda.
      const auto& value = node;
      const std::string problem = update(f->ref, [&](auto& v) {
        std::string pr = parse_toml(value, v);
        return pr.empty() ? check(f->meta.rule, v) : pr;
      });
      if (!problem.empty()) fail(ErrorKind::kConfig, "{}: {}.{} = {}: {}", at, section, key, node_text(node), problem);
    }
  }
}

}  // namespace frugal
