// TrainConfig: every option of `frugal train`, in torchtitan-style TOML sections (docs/training.md, Configuration).
//
// Each field is declared once, in train_config.cpp's field table (section, key, default, help,
// range), and TOML loading, `section.key=value` overrides, the CLI flags, --help text and the
// resolved-config writer all come from that one table, through the shared option machinery
// (core/options.h). Defaults are DeepSeek-V3's where they make
// sense for a small CPU run (docs/training.md, Hyper-parameters): AdamW β 0.9/0.95, weight decay
// 0.1, clip 1.0, eps 1e-8, MTP λ 0.3, sequence-balance α 1e-4, bias-update γ 1e-3.
//
// Precedence (highest first): CLI flags > `--section.key=value` overrides > TOML file > defaults.
// The CLI turns its flags into overrides too (train_cli_flags() + flag_override()) and passes them
// after the generic ones, so one loader applies everything in order and validates once.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/options.h"
#include "model/transformer_train.h"

namespace frugal {

struct TrainConfig {
  enum class Schedule { kConstant, kCosine, kWsd };  // wsd: warmup-stable-decay
  enum class Moments { kF32, kBf16 };               // AdamW m and v storage (bf16: as V3)
  using Recompute = frugal::Recompute;               // what the backward pass recomputes (model/transformer_train.h)

  struct Model {
    std::string init;             // HF checkpoint dir to start from; "" = from scratch (preset)
    std::string preset = "tiny";  // micro|tiny|small|medium (io/random_model.h), from-scratch only
    int64_t vocab_size = 0;       // 0: the tokenizer's / token file's vocabulary
    int64_t mtp_layers = 1;       // MTP depth D for from-scratch models (V3: 1); 0 = no MTP
    bool dense = false;           // from-scratch without MoE (first_k_dense_replace = every layer)
    bool operator==(const Model&) const = default;
  } model;

  struct Data {
    std::string tokens;      // training token file (required by the loop, not by the loader)
    std::string val_tokens;  // validation token file; "" = no validation
    int64_t seq_len = 256;   // T
    bool shuffle = true;     // shuffle sequence order (seeded by train.seed)
    bool operator==(const Data&) const = default;
  } data;

  struct Train {
    int64_t steps = 1000;    // optimizer steps
    int64_t batch = 8;       // sequences per micro-batch (B)
    int64_t grad_accum = 1;  // micro-batches per optimizer step (K); global batch = B·K
    uint64_t seed = 0;
    Recompute recompute = Recompute::kNone;
    double mtp_weight = 0.3;    // λ, MTP loss weight
    double aux_alpha = 1e-4;    // α, complementary sequence-wise balance loss weight
    double bias_gamma = 1e-3;   // γ, aux-loss-free bias update speed
    int64_t max_nan_skips = 5;  // stop after this many consecutive NaN/Inf steps (0: stop at the first)
    // GEMM inputs of the linear layers (kernels/gemm_precision.h, docs/precision.md): f32 | bf16 | fp8 | fp8-tensor.
    // Master weights, gradients and optimizer state stay f32 either way.
    Precision precision = Precision::kF32;
    bool operator==(const Train&) const = default;
  } train;

  struct Optim {
    double lr = 1e-3;    // peak learning rate
    double min_lr = -1;  // final lr; -1 (default) resolves to lr / 10, V3's ratio
    Schedule schedule = Schedule::kCosine;
    int64_t warmup = 100;         // linear warmup steps (0 → lr)
    double decay_fraction = 0.1;  // wsd: fraction of steps spent in the final decay, (0, 1]
    double weight_decay = 0.1;
    double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
    double grad_clip = 1.0;           // global-norm clip; 0 = off
    Moments moments = Moments::kF32;  // AdamW m and v storage (train/optimizer.h)
    int64_t batch_warmup_start = 0;   // sequences per optimizer step at step 0; 0 = no batch ramp
    int64_t batch_warmup_tokens = 0;  // tokens over which the batch ramps linearly to B·K
    bool operator==(const Optim&) const = default;
  } optim;

  struct Checkpoint {
    std::string out = "runs/train";  // the run directory (config, metrics, checkpoints)
    int64_t every = 500;             // steps between checkpoints; 0 = only at the end
    int64_t keep_last = 3;           // checkpoints kept; 0 = all
    bool resume = false;             // resume from the latest complete checkpoint in `out`
    std::string export_dir;          // HF safetensors export of the final model; "" = none (key: export)
    bool operator==(const Checkpoint&) const = default;
  } checkpoint;

  struct Log {
    int64_t every = 10;         // steps between log lines / metrics.jsonl records
    double usd_per_hour = 2.0;  // device price for the cost meter ($2/GPU-h as in docs/training.md, Cost)
    int64_t eval_every = 100;   // steps between validation passes (when data.val_tokens is set); 0 = never
    int64_t eval_batches = 8;   // validation micro-batches per pass
    bool operator==(const Log&) const = default;
  } log;

  struct Dist {
    int64_t dp = 1;          // data-parallel ranks (= mpirun -np); grad_accum must be a multiple
    bool zero1 = false;      // ZeRO-1: AdamW moments sharded across the dp ranks
    double timeout_s = 300;  // a collective waiting longer for the other ranks fails (dead/hung rank)
    bool operator==(const Dist&) const = default;
  } dist;

  bool operator==(const TrainConfig&) const = default;
};

const char* schedule_name(TrainConfig::Schedule s);    // "constant" | "cosine" | "wsd"

// The field table bound to `c` (use it while `c` lives). kFineTune is the set other commands built
// on the training loop share (frugal sft): everything but the from-scratch model shape
// (model.preset, model.vocab_size, model.mtp_layers, model.dense) and the token files (data.tokens,
// data.val_tokens); they add their own sections to it. kStudent is kFineTune without model.init
// (frugal distill names its model --student and sets model.init from it).
enum class TrainOptionSet { kPretrain, kFineTune, kStudent };
Options train_options(TrainConfig& c, TrainOptionSet set = TrainOptionSet::kPretrain);

// Loads TOML (when toml_path is non-null), then applies `overrides` ("section.key=value") in
// order, then validates and resolves (min_lr = -1 → lr / 10). Errors (kConfig) name the file or
// override, the key and the value; unknown sections/keys carry a "did you mean" hint.
TrainConfig load_train_config(const std::string* toml_path, const std::vector<std::string>& overrides);

// Sets one field from its text form ("3e-4", "true", "cosine"); `key` is "section.key".
// `source` names where the value came from for error messages (e.g. "--lr", "run.toml").
// Range checks of the single field happen here; cross-field checks in validate_train_config.
void apply_override(TrainConfig& c, std::string_view key, std::string_view value, std::string_view source = "override");
// Applies one "section.key=value" string (throws kConfig when there is no '=').
void apply_override_string(TrainConfig& c, std::string_view assignment, std::string_view source = "override");

// Cross-field checks (warmup ≤ steps, min_lr ≤ lr, batch ramp ≤ B·K, ...) and resolution of
// derived defaults (min_lr). load_train_config calls it; call it again after any later change.
void validate_train_config(TrainConfig& c);

// The resolved config as TOML (every field, with its help as a comment). Loading it back gives
// an identical config. Saved by the training loop as RUN_DIR/config.resolved.toml.
std::string to_toml(const TrainConfig& c);

// The field table, for --help and docs: one row per key, in file order, with the defaults.
using TrainConfigField = OptionField;
const std::vector<TrainConfigField>& train_config_fields();

// The dedicated flags of `frugal train` (without the leading "--"), each mapped to one key; turn a
// given flag into an override with flag_override (core/options.h). Generic `--section.key=value`
// arguments become overrides with parse_dotted_overrides (core/options.h).
using TrainCliFlag = CliFlag;
const std::vector<TrainCliFlag>& train_cli_flags();

}  // namespace frugal
