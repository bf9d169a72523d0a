// frugal train [--config FILE.toml] [--init HF_DIR] [--tokens FILE] [--seq-len T] [--batch B] ...
//              [--section.key=value ...]
// frugal export RUN_DIR OUT_DIR [--dtype f32|bf16]
// The training command's flags come from train/train_config.h's table (one declaration per key);
// generic `--section.key=value` overrides reach every key. Precedence: flags > overrides > TOML.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/config_flags.h"
#include "core/error.h"
#include "dist/data_parallel.h"
#include "dist/mpi_communicator.h"
#include "io/hf_config.h"
#include "io/hf_params.h"
#include "model/param_store.h"
#include "train/checkpoint.h"
#include "train/train_config.h"
#include "train/trainer.h"

namespace frugal::cli {

namespace {

// Under mpirun (or with --dp > 1): the MPI communicator, the start-up handshake (same binary and
// resolved config on every rank), then the training loop on every rank. An error on any rank ends
// the whole job (MPI_Abort) after printing it, so no rank waits for a dead one.
std::optional<TrainSummary> run_data_parallel(const TrainConfig& cfg) {
  if (!dist::MpiCommunicator::launched_by_mpirun())
    fail(ErrorKind::kConfig, "--dp {} needs {} ranks: run it as mpirun -np {} frugal train ... --dp {}", cfg.dist.dp,
         cfg.dist.dp, cfg.dist.dp, cfg.dist.dp);
  dist::MpiCommunicator comm;
  comm.set_timeout_s(cfg.dist.timeout_s);
  try {
    dist::handshake(comm, dist::build_id() + "\n" + to_toml(cfg), "binary or resolved configuration");
    dist::CommDataParallel dp(comm);
    TrainSummary s = run_training(cfg, nullptr, nullptr, &dp);
    comm.barrier();
    if (comm.rank() != 0) return std::nullopt;
    const double steps = double(std::max<int64_t>(1, dp.reductions()));
    std::fprintf(stderr,
                 "frugal train: rank 0 of %d: gradient/parameter communication %.3f s (%.1f ms per step), sent %.2f MB "
                 "per step (analytic 2(P-1)/P x 4 B x %lld floats = %.2f MB)\n",
                 comm.size(), dp.comm_seconds(), 1e3 * dp.comm_seconds() / steps, double(dp.bytes_sent()) / steps / 1e6,
                 (long long)dp.buffer_elems(), dp.analytic_bytes_per_step() / 1e6);
    return s;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "frugal train: rank %d of %d: error: %s\n", comm.rank(), comm.size(), e.what());
    std::fflush(stderr);
    if (comm.size() > 1) comm.abort(1);
    throw;
  }
}

void register_train(CLI::App& app) {
  CLI::App* c = app.add_subcommand("train", "pretrain a DeepSeek-V3-architecture model (see --help for every key)");
  auto o = ConfigFlags::add_to(c, train_cli_flags(),
                               "TOML config file ([model] [data] [train] [optim] [checkpoint] [log])");
  c->callback([o, c] {
    const std::vector<std::string> overrides = o->assignments(c);
    TrainConfig cfg = load_train_config(o->config(), overrides);
    std::optional<TrainSummary> ds;
    if (cfg.dist.dp > 1 || dist::MpiCommunicator::launched_by_mpirun()) {
      ds = run_data_parallel(cfg);
      if (!ds) return;  // not rank 0: rank 0 reports
    } else {
      ds = run_training(cfg);
    }
    const TrainSummary& s = *ds;
    std::printf("trained %lld steps (%lld this run) in %s: last loss %.4f", (long long)s.steps_done,
                (long long)(s.steps_done - s.start_step), s.run_dir.c_str(), s.last_loss);
    if (s.val_loss >= 0) std::printf(", validation loss %.4f", s.val_loss);
    std::printf(" (unigram entropy %.4f nats), %.0f tok/s, MFU %.1f%%\n", s.unigram_entropy, s.tokens_per_s,
                100 * s.mfu);
    if (s.nan_skips > 0) std::printf("skipped %lld steps with NaN/Inf loss\n", (long long)s.nan_skips);
    if (!s.export_dir.empty()) std::printf("exported to %s\n", s.export_dir.c_str());
  });
}

void register_export(CLI::App& app) {
  struct Opts {
    std::string run_dir, out, dtype = "f32";
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("export", "write a training run's latest checkpoint in Hugging Face layout");
  c->add_option("RUN_DIR", o->run_dir, "training run directory")->required();
  c->add_option("OUT_DIR", o->out, "output directory (config.json + model.safetensors)")->required();
  c->add_option("--dtype", o->dtype, "f32|bf16")->check(CLI::IsMember({"f32", "bf16"}));
  c->callback([o] {
    std::optional<LoadedCheckpoint> ck = load_latest_checkpoint(o->run_dir);
    if (!ck) fail(ErrorKind::kInvalidArgument, "{}: no checkpoint to export", o->run_dir);
    for (const std::string& w : ck->warnings) std::fprintf(stderr, "frugal export: warning: %s\n", w.c_str());
    if (!ck->meta.contains("model"))
      fail(ErrorKind::kFormat, "{}: meta.json has no model config", ck->dir);
    const DeepSeekConfig cfg = parse_hf_config(ck->meta["model"], ck->dir + "/meta.json");
    ParamStore store(cfg, cfg.num_nextn_predict_layers > 0);
    for (const ParamStore::Entry& e : store.entries()) ck->copy_to(e.name, store.value(e), e.numel);
    export_params_hf(store, o->out, o->dtype == "bf16" ? DType::kBF16 : DType::kF32);
    std::fprintf(stderr, "exported %s (step %lld) to %s\n", ck->dir.c_str(), (long long)ck->step, o->out.c_str());
  });
}

CommandRegistrar reg_train(100, &register_train);
CommandRegistrar reg_export(101, &register_export);

}  // namespace

}  // namespace frugal::cli
