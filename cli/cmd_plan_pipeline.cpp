// frugal plan-pipeline --stages P --micro-batches M [--schedules 1f1b,zb1p,dualpipe] [--f 1 --b 1 --w 1
//                      --fb -1] [--measure [--hidden D --intermediate F --rows N --seq T --layers L]]
// Prints each pipeline schedule (dist/pipeline_schedule.h) as an ASCII timeline, one row per rank,
// with the V3 report's Table 2 bubble and activation memory beside the simulated ones
// (dist/pipeline_sim.h). --measure also times one stage's F, B and W of a stack of dense decoder
// layers (dist/pipeline_blocks.h) and runs each schedule here with P in-process ranks
// (dist/pipeline_measure.h), reporting the measured bubble. docs/distributed.md, Pipeline.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "core/error.h"
#include "core/sys.h"
#include "dist/pipeline_measure.h"
#include "dist/pipeline_sim.h"

namespace frugal::cli {

namespace {

using namespace frugal::dist;

std::vector<PipeKind> parse_pipe_kinds(const std::string& list) {
  std::vector<PipeKind> out;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(parse_pipe_kind(item));
  }
  if (out.empty()) fail(ErrorKind::kInvalidArgument, "--schedules '{}': no schedule named", list);
  return out;
}

const char* table2_bubble_text(PipeKind k) {
  switch (k) {
    case PipeKind::k1F1B: return "(P-1)(F+B)";
    case PipeKind::kZB1P: return "(P-1)(F+B-2W)";
    case PipeKind::kDualPipe: return "(P/2-1)(F&B+B-3W)";
  }
  return "?";
}

std::string machine_line() {
  return "CPU " + cpu_model_name() + " | ISA " + cpu_features_str() + " | load " + load_average();
}

struct PlanOpts {
  int stages = 0, micro_batches = 0;
  std::string schedules = "1f1b,zb1p,dualpipe";
  double f = 1, b = 1, w = 1, fb = -1;
  bool measure = false;
  int64_t hidden = 256, intermediate = 512, rows = 64, seq = 16, layers = 0;
};

void plan_pipeline(const PlanOpts& o) {
  const std::vector<PipeKind> kinds = parse_pipe_kinds(o.schedules);
  for (PipeKind k : kinds) {  // every error before any output
    try {
      check_pipe_shape(k, o.stages, o.micro_batches);
    } catch (const Error& e) {
      if (kinds.size() == 1) throw;
      fail(ErrorKind::kInvalidArgument, "{} (leave it out with --schedules naming the others)", e.what());
    }
  }
  if (o.f <= 0 || o.b <= 0 || o.w < 0)
    fail(ErrorKind::kInvalidArgument, "--f {} --b {} --w {}: costs must be positive (W may be 0)", o.f, o.b, o.w);
  PipeCosts c{o.f, o.b, o.w, o.fb};
  const int P = o.stages, M = o.micro_batches;
  std::printf("pipeline plan: P = %d stages, M = %d micro-batches\n", P, M);
  std::printf("costs of one chunk: F = %g, B = %g (input gradient), W = %g (weight gradient); Table 2's B (whole "
              "backward) = %g, F&B = %g\n",
              c.f, c.b, c.w, c.b + c.w, c.pair());
  std::printf("cells: F forward, B input-gradient, W weight-gradient of micro-batch n; '.' idle; a whole backward is "
              "drawn B then W\n\n");
  struct Row {
    PipeKind kind;
    PipeSimResult sim;
  };
  std::vector<Row> rows;
  for (PipeKind k : kinds) {
    const PipeSchedule s = make_schedule(k, P, M);
    validate_schedule(s);
    const PipeSimResult r = simulate_schedule(s, c);
    std::printf("%s%s\n", pipe_kind_name(k),
                k == PipeKind::kDualPipe
                    ? ": micro-batches 0..M/2-1 enter at rank 0 (upper case), M/2..M-1 at rank P-1 (lower case); "
                      "F&B pairs are drawn as F then B W"
                    : "");
    std::printf("%s\n", render_timeline(s, r, c).c_str());
    rows.push_back({k, r});
  }
  std::printf("%-9s %-20s %9s %10s %9s %10s %7s\n", "schedule", "Table 2 bubble", "Table 2", "simulated", "act (T2)",
              "act (sim)", "params");
  for (const Row& row : rows)
    std::printf("%-9s %-20s %9.4g %10.4g %9d %10d %6dx\n", pipe_kind_name(row.kind), table2_bubble_text(row.kind),
                table2_bubble(row.kind, P, c), row.sim.bubble, table2_activations(row.kind, P), row.sim.peak,
                table2_parameters(row.kind));
  std::printf("(bubble: per rank, makespan minus busy time, the largest over ranks; activations: chunks of one "
              "micro-batch kept at the peak, the largest over ranks)\n");
  if (!o.measure) return;

  PipeBlocksConfig cfg;
  cfg.layers = o.layers > 0 ? o.layers : 2 * P;
  cfg.hidden = o.hidden;
  cfg.intermediate = o.intermediate;
  cfg.rows = o.rows;
  cfg.seq = o.seq;
  // MLA sizes in V3's proportions to D (V3: 128 heads, ranks 1536 / 512, head dims 128 / 64 / 128
  // at D = 7168), scaled down: 4 heads, both ranks D/4, head dims 16 / 8 / 16.
  cfg.heads = 4;
  cfg.q_lora_rank = cfg.kv_lora_rank = std::max<int64_t>(1, o.hidden / 4);
  cfg.qk_nope_head_dim = 16;
  cfg.qk_rope_head_dim = 8;
  cfg.v_head_dim = 16;
  if (cfg.layers % P != 0)
    fail(ErrorKind::kInvalidArgument, "--layers {} does not split into {} equal stages", cfg.layers, P);
  pipe_blocks_model_config(cfg);  // names a bad size
  std::printf("\nmeasured here: %s\n", machine_line().c_str());
  std::printf("model: %lld dense decoder layers (RMSNorm, MLA, RMSNorm, SwiGLU MLP), D = %lld, F = %lld, %lld "
              "heads, %lld rows per micro-batch in sequences of %lld; %lld layers per stage; ranks are %d threads of "
              "this process, 1 OpenMP thread each\n",
              (long long)cfg.layers, (long long)cfg.hidden, (long long)cfg.intermediate, (long long)cfg.heads,
              (long long)cfg.rows, (long long)cfg.seq, (long long)(cfg.layers / P), P);
  const PipeCosts mc = measure_pipe_op_costs(cfg, P, 8);
  std::printf("one chunk, median of 8: F = %.3f ms, B = %.3f ms, W = %.3f ms (F&B = F + B + W: no overlap on a CPU)\n",
              1e3 * mc.f, 1e3 * mc.b, 1e3 * mc.w);
  std::printf("%-9s %14s %14s %14s %14s %12s\n", "schedule", "T2 bubble ms", "sim bubble ms", "run step ms",
              "run bubble ms", "bubble/step");
  for (PipeKind k : kinds) {
    const PipeSchedule s = make_schedule(k, P, M);
    const PipeSimResult r = simulate_schedule(s, mc);
    const PipeMeasuredRun run = measure_pipe_run(cfg, s);
    std::printf("%-9s %14.2f %14.2f %14.2f %14.2f %11.1f%%\n", pipe_kind_name(k), 1e3 * table2_bubble(k, P, mc),
                1e3 * r.bubble, 1e3 * run.makespan_s, 1e3 * run.bubble_s, 100 * run.bubble_s / run.makespan_s);
  }
  std::printf("(run bubble: per rank, wall time minus time inside F/B/W, the largest over ranks; it includes waiting "
              "for a core when P exceeds the free cores)\n");
}

void register_plan_pipeline(CLI::App& app) {
  auto o = std::make_shared<PlanOpts>();
  CLI::App* c = app.add_subcommand(
      "plan-pipeline", "print pipeline-parallel schedules (1F1B, ZB1P, DualPipe) as timelines with their bubbles");
  c->add_option("--stages", o->stages, "pipeline stages P (ranks)")->required();
  c->add_option("--micro-batches", o->micro_batches, "micro-batches M per step")->required();
  c->add_option("--schedules", o->schedules, "comma-separated: 1f1b, zb1p, dualpipe")->capture_default_str();
  c->add_option("--f", o->f, "cost of a chunk's forward in the timeline")->capture_default_str();
  c->add_option("--b", o->b, "cost of a chunk's input-gradient backward")->capture_default_str();
  c->add_option("--w", o->w, "cost of a chunk's weight-gradient backward")->capture_default_str();
  c->add_option("--fb", o->fb, "cost of an overlapped F&B pair (negative: F + B + W)")->capture_default_str();
  c->add_flag("--measure", o->measure, "time the ops and run each schedule here (in-process ranks)");
  c->add_option("--layers", o->layers, "--measure: blocks in the model (default 2P)");
  c->add_option("--hidden", o->hidden, "--measure: hidden size D")->capture_default_str();
  c->add_option("--intermediate", o->intermediate, "--measure: MLP width F")->capture_default_str();
  c->add_option("--rows", o->rows, "--measure: rows (tokens) per micro-batch")->capture_default_str();
  c->add_option("--seq", o->seq, "--measure: tokens per sequence (rows is a multiple)")->capture_default_str();
  c->callback([o] { plan_pipeline(*o); });
}

}  // namespace

static CommandRegistrar reg_plan_pipeline(70, &register_plan_pipeline);

}  // namespace frugal::cli
