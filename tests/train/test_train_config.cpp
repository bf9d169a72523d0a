// TrainConfig: defaults, TOML loading, precedence, unknown keys with hints, bad values, round trip.
#include <gtest/gtest.h>

#include <set>

#include "test_util.h"
#include "train/train_config.h"

namespace frugal {
namespace {

using test::expect_error;

TrainConfig load_text(const test::TempDir& dir, const std::string& toml, const std::vector<std::string>& ov = {}) {
  const std::string path = dir.file("run.toml");
  test::write_bytes(path, toml);
  return load_train_config(&path, ov);
}

TEST(TrainConfig, DefaultsAreV3WhereSensible) {
  const TrainConfig c = load_train_config(nullptr, {});
  EXPECT_EQ(c.optim.beta1, 0.9);
  EXPECT_EQ(c.optim.beta2, 0.95);
  EXPECT_EQ(c.optim.weight_decay, 0.1);
  EXPECT_EQ(c.optim.grad_clip, 1.0);
  EXPECT_EQ(c.optim.eps, 1e-8);
  EXPECT_EQ(c.train.mtp_weight, 0.3);
  EXPECT_EQ(c.train.aux_alpha, 1e-4);
  EXPECT_EQ(c.train.bias_gamma, 1e-3);
  EXPECT_EQ(c.log.usd_per_hour, 2.0);
  EXPECT_EQ(c.optim.schedule, TrainConfig::Schedule::kCosine);
  EXPECT_DOUBLE_EQ(c.optim.min_lr, c.optim.lr / 10);  // -1 resolved: V3's final / peak ratio
  EXPECT_TRUE(c.data.shuffle);
  EXPECT_FALSE(c.checkpoint.resume);
}

TEST(TrainConfig, TomlSectionsSetEveryKind) {
  test::TempDir dir;
  const TrainConfig c = load_text(dir, R"(
[model]
preset = "micro"
mtp_layers = 0
dense = true
[data]
tokens = "data/train.bin"
seq_len = 128
shuffle = false
[train]
steps = 50
batch = 4
grad_accum = 2
seed = 7
recompute = "attn"
[optim]
lr = 3e-4
schedule = "wsd"
warmup = 5
grad_clip = 0      # an integer is accepted for a float key
[checkpoint]
out = "runs/x"
export = "hf_out"
resume = true
[log]
every = 1
usd_per_hour = 0.5
)");
  EXPECT_EQ(c.model.preset, "micro");
  EXPECT_EQ(c.model.mtp_layers, 0);
  EXPECT_TRUE(c.model.dense);
  EXPECT_EQ(c.data.tokens, "data/train.bin");
  EXPECT_EQ(c.data.seq_len, 128);
  EXPECT_FALSE(c.data.shuffle);
  EXPECT_EQ(c.train.steps, 50);
  EXPECT_EQ(c.train.grad_accum, 2);
  EXPECT_EQ(c.train.seed, 7u);
  EXPECT_EQ(c.train.recompute, TrainConfig::Recompute::kAttn);
  EXPECT_EQ(c.optim.lr, 3e-4);
  EXPECT_DOUBLE_EQ(c.optim.min_lr, 3e-5);
  EXPECT_EQ(c.optim.schedule, TrainConfig::Schedule::kWsd);
  EXPECT_EQ(c.optim.grad_clip, 0.0);
  EXPECT_EQ(c.checkpoint.out, "runs/x");
  EXPECT_EQ(c.checkpoint.export_dir, "hf_out");
  EXPECT_TRUE(c.checkpoint.resume);
  EXPECT_EQ(c.log.usd_per_hour, 0.5);
}

TEST(TrainConfig, PrecedenceFlagsOverOverridesOverToml) {
  test::TempDir dir;
  const std::string toml = "[optim]\nlr = 1e-3\nwarmup = 10\n[train]\nsteps = 100\nbatch = 4\n";
  // What cmd_train does: generic --section.key overrides first, then its dedicated flags.
  std::vector<std::string> ov = parse_dotted_overrides({"--optim.lr=2e-3", "--train.batch", "6"});
  for (const TrainCliFlag& f : train_cli_flags())
    if (f.flag == "lr") ov.push_back(flag_override(f, "5e-3"));
  const TrainConfig c = load_text(dir, toml, ov);
  EXPECT_EQ(c.optim.lr, 5e-3);    // flag > override > toml
  EXPECT_EQ(c.train.batch, 6);    // override > toml
  EXPECT_EQ(c.optim.warmup, 10);  // toml > default
  EXPECT_EQ(c.train.steps, 100);
  EXPECT_EQ(c.train.grad_accum, 1);  // default
}

TEST(TrainConfig, CliFlagsMapToRealKeys) {
  std::set<std::string> keys;
  for (const TrainConfigField& f : train_config_fields()) keys.insert(f.key);
  std::set<std::string> flags;
  for (const TrainCliFlag& f : train_cli_flags()) {
    EXPECT_TRUE(keys.count(f.key)) << f.flag << " -> " << f.key;
    EXPECT_TRUE(flags.insert(f.flag).second) << "duplicate flag " << f.flag;
    EXPECT_FALSE(f.help.empty()) << f.flag;
  }
  // The documented `frugal train` flags all exist.
  for (const char* f : {"init",
                        "tokens",
                        "seq-len",
                        "batch",
                        "grad-accum",
                        "steps",
                        "lr",
                        "schedule",
                        "warmup",
                        "weight-decay",
                        "beta1",
                        "beta2",
                        "eps",
                        "grad-clip",
                        "mtp-weight",
                        "aux-alpha",
                        "bias-gamma",
                        "no-shuffle",
                        "seed",
                        "out",
                        "export",
                        "resume",
                        "checkpoint-every",
                        "preset",
                        "val-tokens",
                        "recompute",
                        "keep-last",
                        "usd-per-hour",
                        "log-every",
                        "min-lr",
                        "decay-fraction",
                        "batch-warmup-start",
                        "batch-warmup-tokens",
                        "max-nan-skips",
                        "eval-every",
                        "eval-batches",
                        "vocab-size"})
    EXPECT_TRUE(flags.count(f)) << "--" << f;
  TrainConfig c;
  for (const TrainCliFlag& f : train_cli_flags()) {
    if (f.flag == "no-shuffle") apply_override_string(c, flag_override(f));
    if (f.flag == "resume") apply_override_string(c, flag_override(f, "ignored"));
  }
  EXPECT_FALSE(c.data.shuffle);
  EXPECT_TRUE(c.checkpoint.resume);
}

TEST(TrainConfig, UnknownKeysHaveHints) {
  test::TempDir dir;
  expect_error([&] { load_text(dir, "[optim]\nwarmpu = 10\n"); }, ErrorKind::kConfig,
               {"run.toml:2", "unknown key 'optim.warmpu'", "did you mean 'optim.warmup'"});
  expect_error([&] { load_text(dir, "[optimizer]\nlr = 1e-3\n"); }, ErrorKind::kConfig,
               {"run.toml", "unknown section 'optimizer'", "did you mean '[optim]'"});
  expect_error([&] { load_text(dir, "[train]\nlr = 1e-3\n"); }, ErrorKind::kConfig,
               {"unknown key 'train.lr'", "did you mean 'optim.lr'"});
  expect_error([&] { load_text(dir, "lr = 1e-3\n"); }, ErrorKind::kConfig,
               {"run.toml:1", "outside any [section]", "under [optim]"});
  expect_error([&] { load_text(dir, "[log]\nzzzzzz = 1\n"); }, ErrorKind::kConfig,
               {"unknown key 'log.zzzzzz'", "valid keys in [log]", "usd_per_hour"});
  expect_error([&] { load_train_config(nullptr, {"optim.lrr=1"}); }, ErrorKind::kConfig,
               {"override 'optim.lrr=1'", "did you mean 'optim.lr'"});
  expect_error([&] { load_train_config(nullptr, {"lr=1"}); }, ErrorKind::kConfig,
               {"not a section.key", "did you mean 'optim.lr'"});
  expect_error([&] { load_train_config(nullptr, {"optim.lr"}); }, ErrorKind::kConfig, {"section.key=value"});
}

TEST(TrainConfig, BadValuesNameKeyFileAndValue) {
  test::TempDir dir;
  expect_error([&] { load_text(dir, "[optim]\nlr = -0.1\n"); }, ErrorKind::kConfig,
               {"run.toml:2", "optim.lr = -0.1", "must be > 0"});
  expect_error([&] { load_text(dir, "[data]\nseq_len = 0\n"); }, ErrorKind::kConfig,
               {"run.toml", "data.seq_len = 0", "must be in [1,"});
  expect_error([&] { load_text(dir, "[optim]\nschedule = \"linear\"\n"); }, ErrorKind::kConfig,
               {"optim.schedule = \"linear\"", "constant|cosine|wsd"});
  expect_error([&] { load_text(dir, "[optim]\nlr = \"fast\"\n"); }, ErrorKind::kConfig,
               {"optim.lr = \"fast\"", "expected a number"});
  expect_error([&] { load_text(dir, "[train]\nsteps = 1.5\n"); }, ErrorKind::kConfig,
               {"train.steps = 1.5", "expected an integer"});
  expect_error([&] { load_text(dir, "[data]\nshuffle = 1\n"); }, ErrorKind::kConfig,
               {"data.shuffle", "expected true or false"});
  expect_error([&] { load_text(dir, "[model]\npreset = \"huge\"\n"); }, ErrorKind::kConfig,
               {"model.preset", "micro|tiny|small|medium"});
  expect_error([&] { load_text(dir, "[optim]\nbeta2 = 1.0\n"); }, ErrorKind::kConfig, {"optim.beta2", "[0, 1)"});
  expect_error([&] { load_text(dir, "[optim]\nlr = nan\n"); }, ErrorKind::kConfig, {"optim.lr", "finite"});
  expect_error([&] { load_text(dir, "[checkpoint]\nout = \"\"\n"); }, ErrorKind::kConfig,
               {"checkpoint.out", "must not be empty"});
  expect_error([&] { load_text(dir, "[train]\nseed = -3\n"); }, ErrorKind::kConfig, {"train.seed", "non-negative"});
  expect_error([&] { load_text(dir, "[optim]\nlr = [1, 2]\n"); }, ErrorKind::kConfig,
               {"optim.lr", "expected a number"});
  expect_error([&] { load_train_config(nullptr, {"train.batch=four"}); }, ErrorKind::kConfig,
               {"train.batch = 'four'", "expected an integer"});
  expect_error([&] { load_train_config(nullptr, {"optim.eps=0"}); }, ErrorKind::kConfig, {"optim.eps", "> 0"});
  expect_error([&] { load_train_config(nullptr, {"train.recompute=some"}); }, ErrorKind::kConfig,
               {"train.recompute", "none|attn|full"});
}

TEST(TrainConfig, CrossFieldChecks) {
  test::TempDir dir;
  expect_error([&] { load_text(dir, "[train]\nsteps = 10\n[optim]\nwarmup = 20\n"); }, ErrorKind::kConfig,
               {"run.toml", "optim.warmup = 20 exceeds train.steps = 10"});
  expect_error(
      [&] {
        load_train_config(nullptr, {"optim.lr=1e-4", "optim.min_lr=1e-3"});
      },
      ErrorKind::kConfig, {"optim.min_lr", "exceeds optim.lr"});
  expect_error([&] { load_train_config(nullptr, {"optim.min_lr=-0.5"}); }, ErrorKind::kConfig, {"optim.min_lr"});
  expect_error([&] { load_train_config(nullptr, {"optim.batch_warmup_start=4"}); }, ErrorKind::kConfig,
               {"batch_warmup_tokens"});
  expect_error(
      [&] {
        load_train_config(nullptr, {"optim.batch_warmup_start=64", "optim.batch_warmup_tokens=1000"});
      },
      ErrorKind::kConfig, {"exceeds the global batch", "8"});
  expect_error(
      [&] {
        load_train_config(nullptr,
                          {"optim.schedule=wsd", "train.steps=100", "optim.warmup=95", "optim.decay_fraction=0.1"});
      },
      ErrorKind::kConfig, {"optim.warmup = 95 overlaps the wsd decay"});
  const TrainConfig ok = load_train_config(nullptr, {"optim.batch_warmup_start=2", "optim.batch_warmup_tokens=1000"});
  EXPECT_EQ(ok.optim.batch_warmup_start, 2);
}

TEST(TrainConfig, TomlSyntaxAndMissingFile) {
  test::TempDir dir;
  expect_error([&] { load_text(dir, "[optim]\nlr = = 3\n"); }, ErrorKind::kConfig, {"run.toml:2", "invalid TOML"});
  const std::string missing = dir.file("nope.toml");
  expect_error([&] { load_train_config(&missing, {}); }, ErrorKind::kIo, {"nope.toml"});
}

TEST(TrainConfig, ResolvedTomlRoundTrips) {
  test::TempDir dir;
  // Non-default values of every kind, including strings that need escaping and awkward doubles.
  const TrainConfig c =
      load_text(dir, "[model]\ninit = 'C:\\dir \"q\"\ttab'\n[optim]\nlr = 0.1\n",
                {"optim.eps=1e-12", "optim.beta2=0.999", "train.seed=123456789012", "optim.schedule=constant",
                 "train.recompute=full", "data.val_tokens=v.bin", "checkpoint.resume=true", "data.shuffle=false",
                 "log.usd_per_hour=1.7", "optim.min_lr=0.0333333333333333", "data.tokens=ünïcode/∂.bin"});
  EXPECT_EQ(c.model.init, "C:\\dir \"q\"\ttab");
  const std::string text = to_toml(c);
  const std::string path = dir.file("config.resolved.toml");
  test::write_bytes(path, text);
  const TrainConfig back = load_train_config(&path, {});
  EXPECT_TRUE(back == c) << text;
  EXPECT_EQ(to_toml(back), text);
  // Every field appears once in the file.
  for (const TrainConfigField& f : train_config_fields()) {
    const std::string key = f.key.substr(f.key.find('.') + 1);
    EXPECT_NE(text.find("\n" + key + " = "), std::string::npos) << key;
  }
  // Defaults round-trip too.
  const TrainConfig d = load_train_config(nullptr, {});
  test::write_bytes(path, to_toml(d));
  EXPECT_TRUE(load_train_config(&path, {}) == d);
}

TEST(TrainConfig, DottedOverridesParse) {
  EXPECT_EQ(parse_dotted_overrides({"--optim.lr=1e-3", "--train.steps", "5", "--optim.min_lr", "-1"}),
            (std::vector<std::string>{"optim.lr=1e-3", "train.steps=5", "optim.min_lr=-1"}));
  expect_error([] { parse_dotted_overrides({"--lr=3"}); }, ErrorKind::kConfig, {"--lr=3", "--section.key=value"});
  expect_error([] { parse_dotted_overrides({"stray"}); }, ErrorKind::kConfig, {"stray"});
  expect_error([] { parse_dotted_overrides({"--optim.lr"}); }, ErrorKind::kConfig, {"needs a value"});
}

TEST(TrainConfig, EditDistance) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("warmup", "warmpu"), 2u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

}  // namespace
}  // namespace frugal
