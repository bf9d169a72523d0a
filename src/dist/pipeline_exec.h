// Runs one rank's part of a pipeline schedule (pipeline_schedule.h) over a Communicator: the ops
// in the schedule's order, activations sent downstream and their gradients upstream by
// non-blocking send/recv. What a stage computes is behind PipeStageCompute, so the executor is the
// same for any split of a model into stages (docs/distributed.md, Pipeline).
//
// Overlap: the receives of the next op are posted before the current op computes, and sends are
// never waited for until the end, so a transfer runs while the rank computes. The compute of a
// kFB pair (F of one direction, whole backward of the other) runs one after the other on the CPU;
// the pairing decides what is in flight, not two computations at once.
//
// Messages: tag 2·mb (activation of micro-batch mb) or 2·mb + 1 (its gradient); a micro-batch flows
// in one direction only, so (source, tag) names each message once.
#pragma once
#include <cstdint>

#include "dist/communicator.h"
#include "dist/pipeline_schedule.h"

namespace frugal::dist {

// One rank's stages: the chunk of direction `dir` (0, or 1 for DualPipe's reverse direction) is
// stage s.stage_of(rank, dir). Buffers are activation_elems() floats.
class PipeStageCompute {
 public:
  virtual ~PipeStageCompute() = default;
  virtual int64_t activation_elems() const = 0;
  // `in` is null at stage 0 (the stage reads micro-batch mb's input itself); `out` is null at the
  // last stage (which computes mb's loss and keeps what its backward needs).
  virtual void forward(int dir, int mb, const float* in, float* out) = 0;
  // dout: the gradient of forward's output (null at the last stage: from the loss); din: written,
  // the gradient of forward's input (null at stage 0: not wanted).
  virtual void backward_input(int dir, int mb, const float* dout, float* din) = 0;
  // The weight gradient of mb, after its backward_input.
  virtual void backward_weight(int dir, int mb) = 0;
};

struct PipeRunStats {
  double total_s = 0;    // wall time of the rank's schedule
  double compute_s = 0;  // inside the stage's forward/backward calls
  double wait_s = 0;     // blocked on receives (and on the last sends at the end)
  int64_t bytes_sent = 0;
};

// Runs rank comm.rank()'s ops of `s`. comm.size() must be s.P (kInvalidArgument otherwise). Waits are
// bounded by the communicator's timeout: a peer that died makes this throw naming the message.
PipeRunStats run_pipeline(const PipeSchedule& s, Communicator& comm, PipeStageCompute& stage);

}  // namespace frugal::dist
