// TrainConfig: the field table, TOML / override parsing, validation and the resolved-config writer.
#include "train/train_config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <span>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "core/error.h"
#include "core/file.h"

namespace frugal {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// A field's allowed values: a closed/open numeric range, a list of choices (strings), non-empty.
struct Rule {
  double lo = -kInf, hi = kInf;
  bool lo_open = false, hi_open = false;
  std::span<const std::string_view> choices = {};
  bool nonempty = false;
};
Rule at_least(double lo) { return {.lo = lo}; }
Rule positive() { return {.lo = 0, .lo_open = true}; }
Rule between(double lo, double hi) { return {.lo = lo, .hi = hi}; }
Rule unit_open() { return {.lo = 0, .hi = 1, .hi_open = true}; }  // [0, 1)

struct FieldMeta {
  std::string_view section, key, flag, help;
  Rule rule;
};
FieldMeta field(std::string_view section, std::string_view key, std::string_view flag, std::string_view help,
                Rule rule = Rule()) {
  return FieldMeta{section, key, flag, help, rule};
}

constexpr std::string_view kPresets[] = {"micro", "tiny", "small", "medium"};
constexpr std::string_view kScheduleNames[] = {"constant", "cosine", "wsd"};
constexpr std::string_view kRecomputeNames[] = {"none", "attn", "full"};
constexpr double kMaxCount = double(1 << 24);  // caps keep products like B·K·T far from overflow

// THE field table: every key of the config, once, in file order, with its `frugal train` flag
// ("" = none; a bool's flag sets it true, or false when the flag starts with "no-"). `C` is
// TrainConfig or const TrainConfig; `v(meta, member)` is called for each field.
template <class C, class V>
void visit_fields(C& c, V&& v) {
  auto& m = c.model;
  v(field("model", "init", "init", "HF checkpoint dir to start from (empty: from scratch)"), m.init);
  v(field("model", "preset", "preset", "from-scratch model shape: micro|tiny|small|medium", Rule{.choices = kPresets}),
    m.preset);
  v(field("model", "vocab_size", "vocab-size", "vocabulary size (0: from the tokenizer / token file)", at_least(0)),
    m.vocab_size);
  v(field("model", "mtp_layers", "mtp-layers", "MTP depth D of a from-scratch model (0: no MTP)", between(0, 8)),
    m.mtp_layers);

  auto& d = c.data;
  v(field("data", "tokens", "tokens", "training token file"), d.tokens);
  v(field("data", "val_tokens", "val-tokens", "validation token file (empty: no validation)"), d.val_tokens);
  v(field("data", "seq_len", "seq-len", "sequence length T", between(1, kMaxCount)), d.seq_len);
  v(field("data", "shuffle", "no-shuffle", "shuffle the sequence order (seeded by train.seed)"), d.shuffle);

  auto& t = c.train;
  v(field("train", "steps", "steps", "optimizer steps", between(1, 1e12)), t.steps);
  v(field("train", "batch", "batch", "sequences per micro-batch B", between(1, kMaxCount)), t.batch);
  v(field("train", "grad_accum", "grad-accum", "micro-batches per optimizer step K", between(1, kMaxCount)),
    t.grad_accum);
  v(field("train", "seed", "seed", "random seed (init, data order)", between(0, 9.2e18)), t.seed);
  v(field("train", "recompute", "recompute", "activations recomputed in backward: none|attn|full"), t.recompute);
  v(field("train", "mtp_weight", "mtp-weight", "MTP loss weight lambda", at_least(0)), t.mtp_weight);
  v(field("train", "aux_alpha", "aux-alpha", "sequence-wise balance loss weight alpha", at_least(0)), t.aux_alpha);
  v(field("train", "bias_gamma", "bias-gamma", "aux-loss-free routing bias update speed gamma", at_least(0)),
    t.bias_gamma);
  v(field("train", "max_nan_skips", "max-nan-skips", "stop after this many consecutive NaN/Inf steps", between(0, 1e9)),
    t.max_nan_skips);

  auto& o = c.optim;
  v(field("optim", "lr", "lr", "peak learning rate", positive()), o.lr);
  v(field("optim", "min_lr", "min-lr", "final learning rate (-1: lr / 10)", at_least(-1)), o.min_lr);
  v(field("optim", "schedule", "schedule", "learning-rate schedule: constant|cosine|wsd"), o.schedule);
  v(field("optim", "warmup", "warmup", "linear warmup steps", between(0, 1e12)), o.warmup);
  v(field("optim", "decay_fraction", "decay-fraction", "wsd: fraction of steps in the final decay",
          Rule{.lo = 0, .hi = 1, .lo_open = true}),
    o.decay_fraction);
  v(field("optim", "weight_decay", "weight-decay", "AdamW decoupled weight decay", at_least(0)), o.weight_decay);
  v(field("optim", "beta1", "beta1", "AdamW beta1", unit_open()), o.beta1);
  v(field("optim", "beta2", "beta2", "AdamW beta2", unit_open()), o.beta2);
  v(field("optim", "eps", "eps", "AdamW epsilon", positive()), o.eps);
  v(field("optim", "grad_clip", "grad-clip", "global gradient-norm clip (0: off)", at_least(0)), o.grad_clip);
  v(field("optim", "batch_warmup_start", "batch-warmup-start", "sequences per step at step 0 (0: no batch ramp)",
          between(0, kMaxCount)),
    o.batch_warmup_start);
  v(field("optim", "batch_warmup_tokens", "batch-warmup-tokens", "tokens over which the batch ramps to B*K",
          between(0, 1e18)),
    o.batch_warmup_tokens);

  auto& k = c.checkpoint;
  v(field("checkpoint", "out", "out", "run directory", Rule{.nonempty = true}), k.out);
  v(field("checkpoint", "every", "checkpoint-every", "steps between checkpoints (0: only at the end)",
          between(0, 1e12)),
    k.every);
  v(field("checkpoint", "keep_last", "keep-last", "checkpoints kept (0: all)", between(0, 1e9)), k.keep_last);
  v(field("checkpoint", "resume", "resume", "resume from the latest complete checkpoint in out"), k.resume);
  v(field("checkpoint", "export", "export", "HF safetensors export dir of the final model (empty: none)"),
    k.export_dir);

  auto& l = c.log;
  v(field("log", "every", "log-every", "steps between log lines", between(1, 1e12)), l.every);
  v(field("log", "usd_per_hour", "usd-per-hour", "device price per hour for the cost meter", at_least(0)),
    l.usd_per_hour);
  v(field("log", "eval_every", "eval-every", "steps between validation passes (0: never)", between(0, 1e12)),
    l.eval_every);
  v(field("log", "eval_batches", "eval-batches", "validation micro-batches per pass", between(1, 1e9)), l.eval_batches);
}

// ---- names of enums ----

template <class E>
std::span<const std::string_view> names_of() {
  if constexpr (std::is_same_v<E, TrainConfig::Schedule>)
    return kScheduleNames;
  else
    return kRecomputeNames;
}

// ---- text and TOML values -> typed fields; each returns an error text or nullopt ----

using Problem = std::optional<std::string>;

// "expected one of a|b|c" (appends only: GCC 12 warns falsely on chained string +).
std::string expected_one_of(std::span<const std::string_view> names) {
  std::string out = "expected one of ";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += '|';
    out += names[i];
  }
  return out;
}

Problem parse_text(std::string_view s, int64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return "expected an integer";
  return {};
}
Problem parse_text(std::string_view s, uint64_t& out) {
  int64_t v;
  if (parse_text(s, v) || v < 0) return "expected a non-negative integer";
  out = uint64_t(v);
  return {};
}
Problem parse_text(std::string_view s, double& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return "expected a number";
  return {};
}
Problem parse_text(std::string_view s, bool& out) {
  if (s == "true" || s == "1" || s == "yes" || s == "on")
    out = true;
  else if (s == "false" || s == "0" || s == "no" || s == "off")
    out = false;
  else
    return "expected true or false";
  return {};
}
Problem parse_text(std::string_view s, std::string& out) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) s = s.substr(1, s.size() - 2);
  out = std::string(s);
  return {};
}
template <class E>
requires std::is_enum_v<E> Problem parse_text(std::string_view s, E& out) {
  const auto names = names_of<E>();
  for (size_t i = 0; i < names.size(); ++i)
    if (s == names[i]) {
      out = E(i);
      return {};
    }
  return expected_one_of(names);
}

Problem parse_toml(const toml::node& n, int64_t& out) {
  if (!n.is_integer()) return "expected an integer";
  out = n.as_integer()->get();
  return {};
}
Problem parse_toml(const toml::node& n, uint64_t& out) {
  if (!n.is_integer() || n.as_integer()->get() < 0) return "expected a non-negative integer";
  out = uint64_t(n.as_integer()->get());
  return {};
}
Problem parse_toml(const toml::node& n, double& out) {
  if (n.is_integer())
    out = double(n.as_integer()->get());
  else if (n.is_floating_point())
    out = n.as_floating_point()->get();
  else
    return "expected a number";
  return {};
}
Problem parse_toml(const toml::node& n, bool& out) {
  if (!n.is_boolean()) return "expected true or false";
  out = n.as_boolean()->get();
  return {};
}
Problem parse_toml(const toml::node& n, std::string& out) {
  if (!n.is_string()) return "expected a string";
  out = n.as_string()->get();
  return {};
}
template <class E>
requires std::is_enum_v<E> Problem parse_toml(const toml::node& n, E& out) {
  if (!n.is_string()) return "expected a string";
  return parse_text(n.as_string()->get(), out);
}

// ---- typed field -> TOML text ----

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
std::string to_text(int64_t v) { return std::to_string(v); }
std::string to_text(uint64_t v) { return std::to_string(v); }
std::string to_text(double v) {
  std::string s = fmt::format("{}", v);                         // shortest text that reads back to the same double
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // keep it a TOML float
  return s;
}
std::string to_text(bool v) { return v ? "true" : "false"; }
std::string to_text(const std::string& v) { return toml_string(v); }
template <class E>
requires std::is_enum_v<E> std::string to_text(E v) { return toml_string(names_of<E>()[size_t(v)]); }

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

// ---- range / choice checks ----

std::string describe_range(const Rule& r) {
  const bool has_lo = r.lo > -kInf, has_hi = r.hi < kInf;
  auto num = [](double x) { return fmt::format("{}", x); };
  if (has_lo && has_hi)
    return fmt::format("must be in {}{}, {}{}", r.lo_open ? "(" : "[", num(r.lo), num(r.hi), r.hi_open ? ")" : "]");
  if (has_lo) return fmt::format("must be {} {}", r.lo_open ? ">" : ">=", num(r.lo));
  return fmt::format("must be {} {}", r.hi_open ? "<" : "<=", num(r.hi));
}
Problem check_number(const Rule& r, double v) {
  if (!std::isfinite(v)) return "must be finite";
  if (v < r.lo || (r.lo_open && v == r.lo) || v > r.hi || (r.hi_open && v == r.hi)) return describe_range(r);
  return {};
}
Problem check(const Rule& r, int64_t v) { return check_number(r, double(v)); }
Problem check(const Rule& r, uint64_t v) { return check_number(r, double(v)); }
Problem check(const Rule& r, double v) { return check_number(r, v); }
Problem check(const Rule&, bool) { return {}; }
Problem check(const Rule& r, const std::string& v) {
  if (r.nonempty && v.empty()) return "must not be empty";
  if (r.choices.empty() || std::find(r.choices.begin(), r.choices.end(), v) != r.choices.end()) return {};
  return expected_one_of(r.choices);
}
template <class E>
requires std::is_enum_v<E> Problem check(const Rule&, E) { return {}; }

// ---- keys and hints ----

std::vector<std::string> all_keys() {
  std::vector<std::string> keys;
  TrainConfig c;
  visit_fields(c, [&](const FieldMeta& m, auto&) { keys.push_back(fmt::format("{}.{}", m.section, m.key)); });
  return keys;
}
std::vector<std::string> all_sections() {
  std::vector<std::string> out;
  for (const std::string& k : all_keys()) {
    std::string s = k.substr(0, k.find('.'));
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

// The full name of `key` in whichever section has it ("lr" -> "optim.lr"), or "".
std::string full_key_of(std::string_view key) {
  for (const std::string& k : all_keys())
    if (std::string_view(k).substr(k.find('.') + 1) == key) return k;
  return "";
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

// " (did you mean 'optim.lr'?)" for an unknown section.key, or the section's valid keys.
std::string key_hint(std::string_view section, std::string_view key) {
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
std::string section_hint(std::string_view section) {
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
bool known_section(std::string_view section) {
  const auto s = all_sections();
  return std::find(s.begin(), s.end(), section) != s.end();
}

[[noreturn]] void unknown_key(std::string_view where, std::string_view section, std::string_view key) {
  if (!known_section(section))
    fail(ErrorKind::kConfig, "{}: unknown section '{}'{}", where, section, section_hint(section));
  fail(ErrorKind::kConfig, "{}: unknown key '{}.{}'{}", where, section, key, key_hint(section, key));
}

// Finds section.key and calls fn(meta, member); false when there is no such field.
template <class Fn>
bool with_field(TrainConfig& c, std::string_view section, std::string_view key, Fn&& fn) {
  bool found = false;
  visit_fields(c, [&](const FieldMeta& m, auto& member) {
    if (!found && m.section == section && m.key == key) {
      found = true;
      fn(m, member);
    }
  });
  return found;
}

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

void apply_toml(TrainConfig& c, const toml::table& root, const std::string& path) {
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
      const bool found = with_field(c, section, key, [&](const FieldMeta& m, auto& member) {
        auto value = member;
        Problem problem = parse_toml(node, value);
        if (!problem) problem = check(m.rule, value);
        if (problem) fail(ErrorKind::kConfig, "{}: {}.{} = {}: {}", at, section, key, node_text(node), *problem);
        member = value;
      });
      if (!found) unknown_key(at, section, key);
    }
  }
}

}  // namespace

const char* schedule_name(TrainConfig::Schedule s) { return kScheduleNames[size_t(s)].data(); }

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

void apply_override(TrainConfig& c, std::string_view key, std::string_view value, std::string_view source) {
  const size_t dot = key.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == key.size())
    fail(ErrorKind::kConfig, "{}: '{}' is not a section.key name{}", source, key,
         full_key_of(key).empty() ? "" : fmt::format(" (did you mean '{}'?)", full_key_of(key)));
  const std::string_view section = key.substr(0, dot), name = key.substr(dot + 1);
  const bool found = with_field(c, section, name, [&](const FieldMeta& m, auto& member) {
    auto parsed = member;
    Problem problem = parse_text(value, parsed);
    if (!problem) problem = check(m.rule, parsed);
    if (problem) fail(ErrorKind::kConfig, "{}: {} = '{}': {}", source, key, value, *problem);
    member = parsed;
  });
  if (!found) unknown_key(source, section, name);
}

void apply_override_string(TrainConfig& c, std::string_view assignment, std::string_view source) {
  const size_t eq = assignment.find('=');
  if (eq == std::string_view::npos)
    fail(ErrorKind::kConfig, "{}: '{}' is not of the form section.key=value", source, assignment);
  apply_override(c, assignment.substr(0, eq), assignment.substr(eq + 1), source);
}

void validate_train_config(TrainConfig& c) {
  auto& o = c.optim;
  if (o.min_lr < 0 && o.min_lr != -1)
    fail(ErrorKind::kConfig, "optim.min_lr = {}: must be >= 0, or -1 for lr / 10", o.min_lr);
  if (o.min_lr == -1) o.min_lr = o.lr / 10;
  if (o.min_lr > o.lr) fail(ErrorKind::kConfig, "optim.min_lr = {} exceeds optim.lr = {}", o.min_lr, o.lr);
  if (o.warmup > c.train.steps)
    fail(ErrorKind::kConfig, "optim.warmup = {} exceeds train.steps = {}", o.warmup, c.train.steps);
  if (o.schedule == TrainConfig::Schedule::kWsd) {
    // The same rounding as train/schedule.h: D = round(decay_fraction · steps).
    const int64_t decay = int64_t(std::llround(o.decay_fraction * double(c.train.steps)));
    if (o.warmup > c.train.steps - decay)
      fail(ErrorKind::kConfig,
           "optim.warmup = {} overlaps the wsd decay (the last {} of train.steps = {}, optim.decay_fraction = {})",
           o.warmup, decay, c.train.steps, o.decay_fraction);
  }
  const int64_t global_batch = c.train.batch * c.train.grad_accum;
  if (o.batch_warmup_start > 0 && o.batch_warmup_tokens == 0)
    fail(ErrorKind::kConfig, "optim.batch_warmup_start = {} needs optim.batch_warmup_tokens > 0 (the ramp length)",
         o.batch_warmup_start);
  if (o.batch_warmup_start == 0 && o.batch_warmup_tokens > 0)
    fail(ErrorKind::kConfig, "optim.batch_warmup_tokens = {} needs optim.batch_warmup_start > 0 (the first batch)",
         o.batch_warmup_tokens);
  if (o.batch_warmup_start > global_batch)
    fail(ErrorKind::kConfig,
         "optim.batch_warmup_start = {} exceeds the global batch train.batch * train.grad_accum = {}",
         o.batch_warmup_start, global_batch);
}

TrainConfig load_train_config(const std::string* toml_path, const std::vector<std::string>& overrides) {
  TrainConfig c;
  if (toml_path) {
    const std::string text = read_file(*toml_path);  // kIo naming the file when it is missing
    toml::table root;
    try {
      root = toml::parse(text, *toml_path);
    } catch (const toml::parse_error& e) {
      const auto& p = e.source().begin;
      fail(ErrorKind::kConfig, "{}:{}:{}: invalid TOML: {}", *toml_path, p.line, p.column, e.description());
    }
    apply_toml(c, root, *toml_path);
  }
  for (const std::string& o : overrides) apply_override_string(c, o, fmt::format("override '{}'", o));
  try {
    validate_train_config(c);
  } catch (const Error& e) {
    if (!toml_path) throw;
    fail(ErrorKind::kConfig, "{} (with overrides): {}", *toml_path, e.what());
  }
  return c;
}

std::string to_toml(const TrainConfig& c) {
  std::string out = "# frugal train: resolved configuration (every key; load it with --config)\n";
  std::string_view section;
  visit_fields(c, [&](const FieldMeta& m, const auto& member) {
    if (m.section != section) {
      out += fmt::format("{}[{}]\n", section.empty() ? "" : "\n", m.section);
      section = m.section;
    }
    out += fmt::format("{} = {}  # {}\n", m.key, to_text(member), m.help);
  });
  return out;
}

const std::vector<TrainConfigField>& train_config_fields() {
  static const std::vector<TrainConfigField> fields = [] {
    std::vector<TrainConfigField> out;
    const TrainConfig defaults;
    visit_fields(defaults, [&](const FieldMeta& m, const auto& member) {
      using T = std::decay_t<decltype(member)>;
      out.push_back({fmt::format("{}.{}", m.section, m.key), type_name<T>(), to_text(member), std::string(m.help)});
    });
    return out;
  }();
  return fields;
}

const std::vector<TrainCliFlag>& train_cli_flags() {
  static const std::vector<TrainCliFlag> flags = [] {
    std::vector<TrainCliFlag> out;
    const TrainConfig defaults;
    visit_fields(defaults, [&](const FieldMeta& m, const auto& member) {
      if (m.flag.empty()) return;
      using T = std::decay_t<decltype(member)>;
      using K = TrainCliFlag::Kind;
      const K kind = !std::is_same_v<T, bool> ? K::kValue : m.flag.starts_with("no-") ? K::kSetFalse : K::kSetTrue;
      std::string help;
      if (kind == K::kValue)
        help = fmt::format("{} (default {}; {}.{})", m.help, to_text(member), m.section, m.key);
      else
        help = fmt::format("sets {}.{} = {}: {}", m.section, m.key, kind == K::kSetTrue, m.help);
      out.push_back({std::string(m.flag), fmt::format("{}.{}", m.section, m.key), kind, help});
    });
    return out;
  }();
  return flags;
}

std::string flag_override(const TrainCliFlag& f, std::string_view value) {
  switch (f.kind) {
    case TrainCliFlag::Kind::kSetTrue:
      return f.key + "=true";
    case TrainCliFlag::Kind::kSetFalse:
      return f.key + "=false";
    case TrainCliFlag::Kind::kValue:
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

}  // namespace frugal
