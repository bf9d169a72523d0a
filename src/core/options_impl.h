// Internal to options.cpp and options_toml.cpp: typed values of a field, their text forms and checks.
// Each parse / check returns the problem ("expected an integer", "must be > 0") or "" when fine.
#pragma once
#include <string>
#include <string_view>

#include "core/options.h"

namespace frugal::options_impl {

// An enum field's value while it is parsed or printed: an index into its names.
struct EnumValue {
  size_t index = 0;
  std::span<const std::string_view> names;
};

// Calls fn(copy) on a copy of the field's value; stores the copy when fn returns no problem.
// A failed parse or check so leaves the config as it was.
template <class Fn>
std::string update(const Options::Ref& ref, Fn&& fn) {
  if (const auto* e = std::get_if<Options::EnumRef>(&ref)) {
    EnumValue v{e->get(), e->names};
    std::string problem = fn(v);
    if (problem.empty()) e->set(v.index);
    return problem;
  }
  return std::visit(
      [&](const auto& p) -> std::string {
        if constexpr (std::is_pointer_v<std::decay_t<decltype(p)>>) {
          auto v = *p;
          std::string problem = fn(v);
          if (problem.empty()) *p = v;
          return problem;
        } else {
          return {};  // EnumRef, handled above
        }
      },
      ref);
}

// fn(value) with the field's current value (an EnumValue for enums).
template <class Fn>
auto read(const Options::Ref& ref, Fn&& fn) {
  if (const auto* e = std::get_if<Options::EnumRef>(&ref)) return fn(EnumValue{e->get(), e->names});
  return std::visit(
      [&](const auto& p) {
        if constexpr (std::is_pointer_v<std::decay_t<decltype(p)>>)
          return fn(*p);
        else
          return fn(EnumValue{});  // unreachable: EnumRef handled above
      },
      ref);
}

std::string expected_one_of(std::span<const std::string_view> names);  // "expected one of a|b|c"
std::string toml_string(std::string_view s);                           // a quoted TOML basic string

std::string parse_text(std::string_view s, int64_t& out);
std::string parse_text(std::string_view s, uint64_t& out);
std::string parse_text(std::string_view s, double& out);
std::string parse_text(std::string_view s, bool& out);
std::string parse_text(std::string_view s, std::string& out);
std::string parse_text(std::string_view s, EnumValue& out);

std::string check(const OptionRule& r, int64_t v);
std::string check(const OptionRule& r, uint64_t v);
std::string check(const OptionRule& r, double v);
std::string check(const OptionRule& r, bool v);
std::string check(const OptionRule& r, const std::string& v);
std::string check(const OptionRule& r, const EnumValue& v);

}  // namespace frugal::options_impl
