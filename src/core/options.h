// Options: the field table of a command's config struct, and everything derived from it.
//
// A config (TrainConfig, ServeConfig) declares each field once, in a bind function that adds
// (section, key, flag, help, rule) and a reference to the member to an Options table. From that
// one table come: TOML loading (options_toml.cpp), `section.key=value` overrides, the command's
// dedicated flags, --help text, a TOML writer of the whole config, and "did you mean" hints for
// unknown sections and keys (edit distance).
//
// An Options table points into one config object: build it, use it, drop it (it must not outlive
// the object). Values change only after they parsed and passed the field's rule, so a failed
// assignment leaves the config as it was.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace frugal {

// A field's allowed values: a closed/open numeric range, a list of choices (strings), non-empty.
// `note` replaces the "expected one of ..." text when a value is not among the choices.
struct OptionRule {
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  std::span<const std::string_view> choices = {};
  bool nonempty = false;
  std::string_view note = {};
};
inline OptionRule at_least(double lo) { return {.lo = lo}; }
inline OptionRule positive() { return {.lo = 0, .lo_open = true}; }
inline OptionRule between(double lo, double hi) { return {.lo = lo, .hi = hi}; }
inline OptionRule unit_open() { return {.lo = 0, .hi = 1, .hi_open = true}; }  // [0, 1)

// One field's declaration. `flag` is the command's dedicated flag without "--" ("" = none); a bool
// field's flag sets it true, or false when the flag starts with "no-".
struct OptionMeta {
  std::string_view section, key, flag, help;
  OptionRule rule;
};
inline OptionMeta option(std::string_view section, std::string_view key, std::string_view flag, std::string_view help,
                         OptionRule rule = {}) {
  return OptionMeta{section, key, flag, help, rule};
}

// One row of the table for --help and docs.
struct OptionField {
  std::string key;            // "optim.lr"
  std::string type;           // "int" | "uint" | "float" | "bool" | "string" | "enum"
  std::string default_value;  // TOML text of the value in the bound object (its default, for a fresh one)
  std::string help;           // includes the allowed values of enums
};

// A dedicated flag of a command, mapped to one key. kValue flags take a value; kSetTrue/kSetFalse
// flags take none (--resume, --no-shuffle).
struct CliFlag {
  enum class Kind { kValue, kSetTrue, kSetFalse };
  std::string flag;  // "lr", "no-shuffle", "checkpoint-every"
  std::string key;   // "optim.lr", "data.shuffle", "checkpoint.every"
  Kind kind = Kind::kValue;
  std::string help;
};

class Options {
 public:
  // An enum field: its names (index = the enum's value) and access to the member as an index.
  struct EnumRef {
    std::span<const std::string_view> names;
    std::function<size_t()> get;
    std::function<void(size_t)> set;
  };
  using Ref = std::variant<int64_t*, uint64_t*, double*, bool*, std::string*, EnumRef>;

  // Declaration, in file order (the order of --help and of the TOML writer).
  void add(const OptionMeta& m, int64_t& v) { fields_.push_back({m, &v}); }
  void add(const OptionMeta& m, uint64_t& v) { fields_.push_back({m, &v}); }
  void add(const OptionMeta& m, double& v) { fields_.push_back({m, &v}); }
  void add(const OptionMeta& m, bool& v) { fields_.push_back({m, &v}); }
  void add(const OptionMeta& m, std::string& v) { fields_.push_back({m, &v}); }
  template <class E>
  requires std::is_enum_v<E>
  void add(const OptionMeta& m, E& v, std::span<const std::string_view> names) {
    fields_.push_back({m, EnumRef{names, [&v] { return size_t(v); }, [&v](size_t i) { v = E(i); }}});
  }

  // Sets one field from its text form ("3e-4", "true", "cosine"); `key` is "section.key".
  // `source` names where the value came from (e.g. "--lr", "override 'optim.lr=3'"). Errors (kConfig)
  // name the source, the key and the value; unknown keys carry a "did you mean" hint.
  void set(std::string_view key, std::string_view value, std::string_view source = "override");
  // One "section.key=value" string (kConfig when there is no '=').
  void set_assignment(std::string_view assignment, std::string_view source = "override");
  // Reads and applies a TOML file; errors name path:line:column, the key and the value.
  void load_toml(const std::string& path);

  // The bound object as TOML: `header` (a comment line), then every field with its help as a comment.
  std::string to_toml(std::string_view header) const;
  std::vector<OptionField> fields() const;
  std::vector<CliFlag> cli_flags() const;

 private:
  struct Field {
    OptionMeta meta;
    Ref ref;
  };
  const Field* find(std::string_view section, std::string_view key) const;  // null: no such field
  [[noreturn]] void unknown_key(std::string_view where, std::string_view section, std::string_view key) const;
  bool known_section(std::string_view section) const;
  std::string full_key_of(std::string_view key) const;  // "lr" -> "optim.lr", or ""
  std::vector<std::string> all_keys() const;
  std::vector<std::string> all_sections() const;
  std::string key_hint(std::string_view section, std::string_view key) const;
  std::string section_hint(std::string_view section) const;
  std::vector<Field> fields_;
};

// Loads TOML (when toml_path is non-null), then applies `overrides` ("section.key=value", source
// "override '...'") in order, then calls `validate` (the config's cross-field checks); an error
// from `validate` is prefixed with "PATH (with overrides): " when a file was loaded.
void load_options(Options& o, const std::string* toml_path, const std::vector<std::string>& overrides,
                  const std::function<void()>& validate);

// The three things every command config derives from its bind function (Options bind(Config&)):
// the config loaded (defaults, TOML, overrides, then validate(c)), its TOML text, and its flags.
template <typename Config, typename Bind, typename Validate>
Config load_config(Bind bind, const std::string* toml_path, const std::vector<std::string>& overrides,
                   Validate validate) {
  Config c;
  Options o = bind(c);
  load_options(o, toml_path, overrides, [&] { validate(c); });
  return c;
}
template <typename Config, typename Bind>
std::string config_toml(const Config& c, Bind bind, std::string_view header) {
  Config copy = c;
  return bind(copy).to_toml(header);
}
template <typename Config, typename Bind>
std::vector<CliFlag> config_cli_flags(Bind bind) {
  Config defaults;
  return bind(defaults).cli_flags();
}

// "section.key=value" for a flag given on the command line (value ignored for kSet* flags).
std::string flag_override(const CliFlag& f, std::string_view value = {});

// Turns leftover command-line arguments of the generic form `--section.key=value` or
// `--section.key value` into "section.key=value" strings; anything else is a kConfig error
// naming the argument (the key itself is checked when applied).
std::vector<std::string> parse_dotted_overrides(const std::vector<std::string>& args);

// Levenshtein distance (the "did you mean" hints).
size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace frugal
