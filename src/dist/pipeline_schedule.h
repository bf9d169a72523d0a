// Pipeline-parallel schedules as data (docs/distributed.md, Pipeline): for P ranks and M
// micro-batches, the ordered list of operations each rank runs. Three schedules:
//   1F1B      one model chunk per rank (stage r on rank r); warm-up forwards, then one forward and
//             one whole backward alternately, then the remaining backwards.
//   ZB1P      zero-bubble 1F1B (ZB-H1): the backward is split into B (gradient of the input, on the
//             critical path) and W (gradient of the weights, deferred into bubbles), with the same
//             peak activation memory as 1F1B.
//   DualPipe  the V3 report's bidirectional schedule: micro-batches [0, M/2) enter at rank 0 and flow
//             down (direction 0), [M/2, M) enter at rank P-1 and flow up (direction 1); every rank
//             holds two chunks, stage r of direction 0 and stage P-1-r of direction 1 (so each stage's
//             layers live on two ranks: 2x parameters), and in its steady state runs a forward of one
//             direction paired with a whole backward of the other (F&B). The op order follows the
//             phases of the reference implementation (deepseek-ai/DualPipe dualpipe.py), written anew.
// A stage is one contiguous slice of the layers; every schedule here has P stages per direction.
// validate_schedule() checks any schedule: every (micro-batch, stage) gets exactly one F, one B and
// one W on the rank that holds that stage, and the ops can run with send/recv semantics (buffered
// sends, blocking receives) without deadlock.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace frugal::dist {

enum class PipeKind { k1F1B, kZB1P, kDualPipe };
PipeKind parse_pipe_kind(std::string_view s);  // "1f1b" | "zb1p" | "dualpipe"; throws naming the value
const char* pipe_kind_name(PipeKind k);

enum class PipeOpKind : uint8_t {
  kF,   // forward of micro-batch mb
  kB,   // backward for the input only (the activation gradient sent upstream)
  kW,   // backward for the weights of micro-batch mb (after its kB)
  kBW,  // the whole backward of mb: B then W
  kFB,  // DualPipe's overlapped pair: forward of mb, whole backward (B and W) of mb2
};

struct PipeOp {
  PipeOpKind kind = PipeOpKind::kF;
  int mb = -1;   // the micro-batch (of the forward part, for kFB)
  int mb2 = -1;  // kFB: the micro-batch of the backward part
};

struct PipeSchedule {
  PipeKind kind = PipeKind::k1F1B;
  int P = 0;  // ranks = stages per direction
  int M = 0;  // micro-batches
  std::vector<std::vector<PipeOp>> ranks;  // [P] each rank's ops in order

  bool bidirectional() const { return kind == PipeKind::kDualPipe; }
  // 0, or for DualPipe 1 when mb is in the second half (fed from rank P-1).
  int direction(int mb) const { return bidirectional() && mb >= M / 2 ? 1 : 0; }
  // Stage of the chunk of `rank` that serves direction `dir`, and the rank holding a stage.
  int stage_of(int rank, int dir) const { return dir == 0 ? rank : P - 1 - rank; }
  int rank_of(int stage, int dir) const { return dir == 0 ? stage : P - 1 - stage; }
  int chunks_per_rank() const { return bidirectional() ? 2 : 1; }
};

// Checks P and M for `kind`; throws kInvalidArgument naming the constraint:
//   every kind: P >= 1, M >= 1 (and P, M <= 4096: tags and timelines stay small);
//   DualPipe: P even and >= 2, M even and M >= 2P (the two halves of M/2 micro-batches must fill the
//   warm-up phases of every rank: the reference implementation's own assertion).
void check_pipe_shape(PipeKind kind, int P, int M);
PipeSchedule make_schedule(PipeKind kind, int P, int M);

// Throws kInternal with the first violation (rank, op index, micro-batch) if `s` is not a valid
// schedule: ops of unknown micro-batches, a (micro-batch, stage) with a missing or repeated F, B or
// W, a backward before its forward on the same rank, or a deadlock under send/recv semantics (the
// ranks' next ops all waiting for data that no rank can still produce).
void validate_schedule(const PipeSchedule& s);

// "F3", "B3", "W3", "BW3", "F3&BW9": one op in words, for messages and tests.
std::string pipe_op_name(const PipeOp& op);

}  // namespace frugal::dist
