// ConfigFlags: --config, dedicated flags and --section.key=value overrides on a CLI11 subcommand.
#include "cli/config_flags.h"

namespace frugal::cli {

std::shared_ptr<ConfigFlags> ConfigFlags::add_to(CLI::App* c, std::vector<CliFlag> flags,
                                                 const std::string& config_help) {
  auto o = std::make_shared<ConfigFlags>();
  o->flags_ = std::move(flags);
  c->allow_extras();  // --section.key=value overrides
  c->add_option("--config", o->config_, config_help);
  for (const CliFlag& f : o->flags_) {
    if (f.kind == CliFlag::Kind::kValue)
      c->add_option("--" + f.flag, o->values_[f.flag], f.help);
    else
      c->add_flag("--" + f.flag, o->set_[f.flag], f.help);
  }
  return o;
}

std::vector<ConfigFlags::Setting> ConfigFlags::settings(const CLI::App* c) const {
  std::vector<Setting> out;
  for (std::string& a : parse_dotted_overrides(c->remaining())) out.push_back({a, "--" + a.substr(0, a.find('='))});
  for (const CliFlag& f : flags_) {
    if (f.kind == CliFlag::Kind::kValue) {
      if (c->count("--" + f.flag) > 0) out.push_back({flag_override(f, values_.at(f.flag)), "--" + f.flag});
    } else if (set_.at(f.flag)) {
      out.push_back({flag_override(f), "--" + f.flag});
    }
  }
  return out;
}

}  // namespace frugal::cli
