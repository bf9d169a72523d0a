// The command-line side of an option table (core/options.h): `--config FILE.toml`, the table's
// dedicated flags (--lr, --max-batch, ...) and generic `--section.key=value` overrides, which
// CLI11 leaves as extras. `frugal train` and `frugal serve` declare their options this way.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/options.h"

namespace frugal::cli {

class ConfigFlags {
 public:
  // One setting from the command line: "section.key=value" and the argument that gave it
  // ("--max-batch", "--engine.max_batch"), for error messages.
  struct Setting {
    std::string assignment, source;
  };

  // Adds --config and one CLI11 option per flag to `c`, and lets `c` keep unknown arguments as extras.
  // The returned object receives the values; keep it alive as long as `c` (CLI11 writes into it).
  static std::shared_ptr<ConfigFlags> add_to(CLI::App* c, std::vector<CliFlag> flags, const std::string& config_help);

  const std::string* config() const { return config_.empty() ? nullptr : &config_; }
  // After parsing: the generic overrides, then the dedicated flags that were given (table order),
  // so that a flag wins over an override of the same key. kConfig errors name a stray argument.
  std::vector<Setting> settings(const CLI::App* c) const;
  // The same settings' "section.key=value" assignments, in order (what load_*_config takes).
  std::vector<std::string> assignments(const CLI::App* c) const {
    std::vector<std::string> out;
    for (const Setting& s : settings(c)) out.push_back(s.assignment);
    return out;
  }

 private:
  std::vector<CliFlag> flags_;
  std::string config_;
  std::map<std::string, std::string> values_;  // value flag -> value as typed
  std::map<std::string, bool> set_;            // switch flags given
};

}  // namespace frugal::cli
