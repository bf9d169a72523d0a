// Measuring pipeline schedules on this machine (frugal plan-pipeline --measure; docs/distributed.md,
// Pipeline): the cost of one chunk's F, B and W of the decoder-layer stack of dist/pipeline_blocks.h, and a
// real run of a schedule with P in-process ranks (threads of one OpenMP thread each).
#pragma once
#include <vector>

#include "dist/pipeline_blocks.h"
#include "dist/pipeline_exec.h"
#include "dist/pipeline_sim.h"

namespace frugal::dist {

// Median seconds of F, B and W of one stage (cfg.layers / P layers) over `reps` micro-batches, on
// the calling thread; fb = f + b + w (a CPU runs the pair one after the other), comm = 0.
PipeCosts measure_pipe_op_costs(const PipeBlocksConfig& cfg, int P, int reps);

struct PipeMeasuredRun {
  double makespan_s = 0;             // the slowest rank's wall time for the step
  double bubble_s = 0;               // max over ranks of (wall - compute)
  std::vector<PipeRunStats> ranks;   // [P] of the timed step
};

// One warm-up step, then one timed step of `s` over the block stack on s.P in-process ranks.
PipeMeasuredRun measure_pipe_run(const PipeBlocksConfig& cfg, const PipeSchedule& s);

}  // namespace frugal::dist
