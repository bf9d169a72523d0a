#include "dist/pipeline_schedule.h"

#include <algorithm>
#include <deque>

#include "core/error.h"
#include "dist/pipeline_sim.h"

namespace frugal::dist {

PipeKind parse_pipe_kind(std::string_view s) {
  if (s == "1f1b") return PipeKind::k1F1B;
  if (s == "zb1p") return PipeKind::kZB1P;
  if (s == "dualpipe") return PipeKind::kDualPipe;
  fail(ErrorKind::kInvalidArgument, "unknown pipeline schedule '{}' (expected 1f1b, zb1p or dualpipe)", s);
}

const char* pipe_kind_name(PipeKind k) {
  switch (k) {
    case PipeKind::k1F1B: return "1f1b";
    case PipeKind::kZB1P: return "zb1p";
    case PipeKind::kDualPipe: return "dualpipe";
  }
  return "?";
}

std::string pipe_op_name(const PipeOp& op) {
  switch (op.kind) {
    case PipeOpKind::kF: return "F" + std::to_string(op.mb);
    case PipeOpKind::kB: return "B" + std::to_string(op.mb);
    case PipeOpKind::kW: return "W" + std::to_string(op.mb);
    case PipeOpKind::kBW: return "BW" + std::to_string(op.mb);
    case PipeOpKind::kFB: return "F" + std::to_string(op.mb) + "&BW" + std::to_string(op.mb2);
  }
  return "?";
}

void check_pipe_shape(PipeKind kind, int P, int M) {
  if (P < 1 || P > 4096) fail(ErrorKind::kInvalidArgument, "pipeline stages P = {}: must be in [1, 4096]", P);
  if (M < 1 || M > 4096) fail(ErrorKind::kInvalidArgument, "pipeline micro-batches M = {}: must be in [1, 4096]", M);
  if (kind == PipeKind::kDualPipe) {
    if (P % 2 != 0)
      fail(ErrorKind::kInvalidArgument, "dualpipe needs an even number of stages (each rank pairs with rank P-1-r), got P = {}", P);
    if (M % 2 != 0 || M < 2 * P)
      fail(ErrorKind::kInvalidArgument,
           "dualpipe needs an even number of micro-batches M >= 2P (M/2 enter from each end and must fill every "
           "rank's warm-up), got M = {} for P = {} (smallest: {})",
           M, P, 2 * P);
  }
}

namespace {

// 1F1B on rank r: P-1-r warm-up forwards, then forward/backward pairs, then the remaining backwards.
std::vector<PipeOp> one_f_one_b_rank(int P, int M, int r) {
  std::vector<PipeOp> ops;
  const int warm = std::min(P - 1 - r, M);
  int f = 0, b = 0;
  for (; f < warm; ++f) ops.push_back({PipeOpKind::kF, f});
  for (; f < M; ++f, ++b) {
    ops.push_back({PipeOpKind::kF, f});
    ops.push_back({PipeOpKind::kBW, b});
  }
  for (; b < M; ++b) ops.push_back({PipeOpKind::kBW, b});
  return ops;
}

// ZB-H1 by list scheduling in unit time (F = B = W = 1, no latency). Whenever a rank is free it
// runs, in this priority:
//   1. the next F, if its input has arrived, the rank has fewer than P - r forwards without their B
//      (1F1B's warm-up depth on rank r) and fewer than P live activations (kept until W: 1F1B's peak);
//   2. else a B whose gradient has arrived (B is on the critical path, W is not);
//   3. else the oldest deferred W, filling what would be a bubble.
// So the later ranks defer W's while B's flow up and spend them at the tail, where 1F1B idles; with
// F = B = W the bubble is (P-1)(F+B-2W) (B the whole backward), Table 2's. The resulting op order is
// the schedule, valid under any costs (validate_schedule).
std::vector<std::vector<PipeOp>> zero_bubble_h1(int P, int M) {
  std::vector<std::vector<PipeOp>> ranks(static_cast<size_t>(P));
  // done_f[s][mb], done_b[s][mb]: the unit step at whose end the op finished (-1: not yet).
  std::vector<std::vector<int>> done_f(size_t(P), std::vector<int>(size_t(M), -1)), done_b = done_f;
  std::vector<int> next_f(size_t(P), 0), next_b(size_t(P), 0), live(size_t(P), 0);
  std::vector<std::deque<int>> pending_w(static_cast<size_t>(P));
  int remaining = 3 * P * M;
  for (int t = 0; remaining > 0; ++t) {
    FRUGAL_ASSERT(t <= 3 * (P + M) * 3, "zb1p construction did not finish for P = {}, M = {}", P, M);
    for (int r = 0; r < P; ++r) {
      const size_t ri = size_t(r);
      // Data that arrived by the start of step t: ops finished at steps < t.
      auto ready = [t](int when) { return when >= 0 && when < t; };
      const int f = next_f[ri], b = next_b[ri];
      if (f < M && f - b < P - r && live[ri] < P && (r == 0 || ready(done_f[ri - 1][size_t(f)]))) {
        ranks[ri].push_back({PipeOpKind::kF, f});
        done_f[ri][size_t(f)] = t;
        ++live[ri];
        ++next_f[ri];
        --remaining;
      } else if (b < M && ready(done_f[ri][size_t(b)]) && (r == P - 1 || ready(done_b[ri + 1][size_t(b)]))) {
        ranks[ri].push_back({PipeOpKind::kB, b});
        done_b[ri][size_t(b)] = t;
        pending_w[ri].push_back(b);
        ++next_b[ri];
        --remaining;
      } else if (!pending_w[ri].empty()) {
        ranks[ri].push_back({PipeOpKind::kW, pending_w[ri].front()});
        pending_w[ri].pop_front();
        --live[ri];
        --remaining;
      }
    }
  }
  return ranks;
}

// DualPipe on rank r. "Phase 0" is the direction in which this rank sits in the first half of the
// pipeline (direction 0 for r < P/2, direction 1 otherwise), "phase 1" the other; h = min(r, P-1-r)
// is the distance from the nearer end and H = P/2. Eight phases (the reference's step 1..8):
//   1 (H-h-1)*2 forwards of phase 0             5 H-h-1 x: BW(phase 1), F(1)&BW(0)
//   2 h+1 x: F(0), F(1)                          6 h+1 x: B(1), B(0), W deferred from the middle on
//   3 H-h-1 x: B(1), W, F(1)                     7 H-h-1 x: W, B(0)
//   4 M/2-P+h+1 x: F(0)&BW(1), F(1)&BW(0)        8 h+1 x: W
// Deferred W's run first-in first-out. In phase 4 the middle ranks run their first F(0) and BW(1)
// separately, not paired (the reference does so to shorten the bubble).
class DualPipeRankBuilder {
 public:
  DualPipeRankBuilder(int P, int M, int r) : P_(P), M_(M), rank_(r), second_half_(r >= P / 2) {}

  std::vector<PipeOp> build() {
    const int H = P_ / 2, h = second_half_ ? P_ - 1 - rank_ : rank_;
    const bool middle = h == H - 1;
    for (int i = 0; i < (H - h - 1) * 2; ++i) f(0);
    for (int i = 0; i < h + 1; ++i) f(0), f(1);
    for (int i = 0; i < H - h - 1; ++i) b(1, true), w(), f(1);
    const int main_steps = M_ / 2 - P_ + h + 1;
    for (int i = 0; i < main_steps; ++i) {
      if (i == 0 && middle) {
        f(0);
        bw(1);
      } else {
        fb(0, 1);
      }
      fb(1, 0);
    }
    for (int i = 0; i < H - h - 1; ++i) bw(1), fb(1, 0);
    bool zb = false;
    for (int i = 0; i < h + 1; ++i) {
      if (i == (h + 1) / 2 && h % 2 == 1) zb = true;
      zb ? b(1, true) : bw(1);
      if (i == (h + 1) / 2 && h % 2 == 0) zb = true;
      zb ? b(0, true) : bw(0);
    }
    for (int i = 0; i < H - h - 1; ++i) w(), b(0, true);
    for (int i = 0; i < h + 1; ++i) w();
    FRUGAL_ASSERT(deferred_.empty(), "dualpipe: deferred weight gradients left over");
    return std::move(ops_);
  }

 private:
  // Micro-batch numbering: direction 0 serves [0, M/2), direction 1 [M/2, M), each in order.
  int dir(int phase) const { return phase ^ int(second_half_); }
  int take(int (&next)[2], int phase) {
    const int d = dir(phase);
    return d * (M_ / 2) + next[d]++;
  }
  void f(int phase) { ops_.push_back({PipeOpKind::kF, take(next_f_, phase)}); }
  void bw(int phase) { ops_.push_back({PipeOpKind::kBW, take(next_b_, phase)}); }
  void b(int phase, bool defer_w) {
    const int mb = take(next_b_, phase);
    if (!defer_w) {
      ops_.push_back({PipeOpKind::kBW, mb});
      return;
    }
    ops_.push_back({PipeOpKind::kB, mb});
    deferred_.push_back(mb);
  }
  void w() {
    FRUGAL_ASSERT(!deferred_.empty(), "dualpipe: a weight step with nothing deferred");
    ops_.push_back({PipeOpKind::kW, deferred_.front()});
    deferred_.pop_front();
  }
  void fb(int phase_f, int phase_b) {
    const int mf = take(next_f_, phase_f);
    const int mb = take(next_b_, phase_b);
    ops_.push_back({PipeOpKind::kFB, mf, mb});
  }

  int P_, M_, rank_;
  bool second_half_;
  int next_f_[2] = {0, 0}, next_b_[2] = {0, 0};
  std::deque<int> deferred_;
  std::vector<PipeOp> ops_;
};

}  // namespace

PipeSchedule make_schedule(PipeKind kind, int P, int M) {
  check_pipe_shape(kind, P, M);
  PipeSchedule s;
  s.kind = kind;
  s.P = P;
  s.M = M;
  switch (kind) {
    case PipeKind::k1F1B:
      for (int r = 0; r < P; ++r) s.ranks.push_back(one_f_one_b_rank(P, M, r));
      break;
    case PipeKind::kZB1P: s.ranks = zero_bubble_h1(P, M); break;
    case PipeKind::kDualPipe:
      for (int r = 0; r < P; ++r) {
        s.ranks.push_back(DualPipeRankBuilder(P, M, r).build());
      }
      break;
  }
  return s;
}

void validate_schedule(const PipeSchedule& s) {
  FRUGAL_ASSERT(int(s.ranks.size()) == s.P, "schedule has {} rank lists for P = {}", s.ranks.size(), s.P);
  // count[dir][stage][mb] of F, B, W.
  const size_t P = size_t(s.P), M = size_t(s.M);
  std::vector<int> nf(P * M, 0), nb(P * M, 0), nw(P * M, 0);
  for (int r = 0; r < s.P; ++r) {
    const auto& ops = s.ranks[size_t(r)];
    for (size_t i = 0; i < ops.size(); ++i) {
      const PipeOp& op = ops[i];
      auto where = [&] { return fmt::format("rank {} op {} ({})", r, i, pipe_op_name(op)); };
      auto slot = [&](int mb) -> size_t {
        if (mb < 0 || mb >= s.M) fail(ErrorKind::kInternal, "{}: micro-batch {} outside [0, {})", where(), mb, s.M);
        return size_t(s.stage_of(r, s.direction(mb))) * M + size_t(mb);
      };
      switch (op.kind) {
        case PipeOpKind::kF: ++nf[slot(op.mb)]; break;
        case PipeOpKind::kB: ++nb[slot(op.mb)]; break;
        case PipeOpKind::kW: ++nw[slot(op.mb)]; break;
        case PipeOpKind::kBW: ++nb[slot(op.mb)], ++nw[slot(op.mb)]; break;
        case PipeOpKind::kFB: ++nf[slot(op.mb)], ++nb[slot(op.mb2)], ++nw[slot(op.mb2)]; break;
      }
    }
  }
  for (size_t st = 0; st < P; ++st)
    for (size_t mb = 0; mb < M; ++mb) {
      const size_t k = st * M + mb;
      if (nf[k] != 1 || nb[k] != 1 || nw[k] != 1)
        fail(ErrorKind::kInternal,
             "{} P = {} M = {}: micro-batch {} at stage {} (rank {}) has {} F, {} B, {} W (want one each)",
             pipe_kind_name(s.kind), s.P, s.M, mb, st, s.rank_of(int(st), s.direction(int(mb))), nf[k], nb[k], nw[k]);
    }
  // Order within a rank and across ranks: the simulation runs every op exactly when its inputs
  // exist and throws on a backward before its forward, a W before its B, or a deadlock.
  simulate_schedule(s, PipeCosts{});
}

}  // namespace frugal::dist
