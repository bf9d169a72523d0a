#include "dist/pipeline_sim.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/error.h"

namespace frugal::dist {

namespace {

constexpr double kNotYet = -1;

// Finish times of every (stage, micro-batch)'s forward and input-gradient backward.
struct SimState {
  const PipeSchedule& s;
  const PipeCosts& c;
  std::vector<double> f, b, w;  // [stage * M + mb], kNotYet until done
  size_t at(int stage, int mb) const { return size_t(stage) * size_t(s.M) + size_t(mb); }
};

// When the inputs of a forward (part) of mb on rank r have arrived; kNotYet if they cannot yet.
// `why` says what is missing.
double forward_ready(const SimState& st, int r, int mb, std::string* why) {
  const int stage = st.s.stage_of(r, st.s.direction(mb));
  if (stage == 0) return 0;
  const double t = st.f[st.at(stage - 1, mb)];
  if (t == kNotYet) {
    if (why) *why = fmt::format("F{} of stage {} (rank {})", mb, stage - 1, st.s.rank_of(stage - 1, st.s.direction(mb)));
    return kNotYet;
  }
  return t + st.c.comm;
}

double backward_ready(const SimState& st, int r, int mb, std::string* why) {
  const int dir = st.s.direction(mb), stage = st.s.stage_of(r, dir);
  const double own = st.f[st.at(stage, mb)];
  if (own == kNotYet) {
    if (why) *why = fmt::format("its own F{} (stage {})", mb, stage);
    return kNotYet;
  }
  if (stage == st.s.P - 1) return own;
  const double t = st.b[st.at(stage + 1, mb)];
  if (t == kNotYet) {
    if (why) *why = fmt::format("B{} of stage {} (rank {})", mb, stage + 1, st.s.rank_of(stage + 1, dir));
    return kNotYet;
  }
  return std::max(own, t + st.c.comm);
}

double weight_ready(const SimState& st, int r, int mb, std::string* why) {
  const int stage = st.s.stage_of(r, st.s.direction(mb));
  const double t = st.b[st.at(stage, mb)];
  if (t == kNotYet && why) *why = fmt::format("its own B{} (stage {})", mb, stage);
  return t;
}

// The time op can start on rank r given what is done (kNotYet: waiting).
double ready_time(const SimState& st, int r, const PipeOp& op, std::string* why) {
  switch (op.kind) {
    case PipeOpKind::kF: return forward_ready(st, r, op.mb, why);
    case PipeOpKind::kB:
    case PipeOpKind::kBW: return backward_ready(st, r, op.mb, why);
    case PipeOpKind::kW: return weight_ready(st, r, op.mb, why);
    case PipeOpKind::kFB: {
      const double a = forward_ready(st, r, op.mb, why);
      if (a == kNotYet) return kNotYet;
      const double b = backward_ready(st, r, op.mb2, why);
      return b == kNotYet ? kNotYet : std::max(a, b);
    }
  }
  return kNotYet;
}

double duration(const PipeCosts& c, PipeOpKind k) {
  switch (k) {
    case PipeOpKind::kF: return c.f;
    case PipeOpKind::kB: return c.b;
    case PipeOpKind::kW: return c.w;
    case PipeOpKind::kBW: return c.b + c.w;
    case PipeOpKind::kFB: return c.pair();
  }
  return 0;
}

// Records op's results. Outputs are sent when the op ends (as the reference DualPipe sends after a
// chunk's compute), so a kBW's input gradient leaves at its end, not after its B part.
void finish(SimState& st, int r, const PipeOp& op, double end) {
  auto stage = [&](int mb) { return st.s.stage_of(r, st.s.direction(mb)); };
  auto set = [&](std::vector<double>& v, int mb) { v[st.at(stage(mb), mb)] = end; };
  switch (op.kind) {
    case PipeOpKind::kF: set(st.f, op.mb); break;
    case PipeOpKind::kB: set(st.b, op.mb); break;
    case PipeOpKind::kW: set(st.w, op.mb); break;
    case PipeOpKind::kBW: set(st.b, op.mb), set(st.w, op.mb); break;
    case PipeOpKind::kFB: set(st.f, op.mb), set(st.b, op.mb2), set(st.w, op.mb2); break;
  }
}

}  // namespace

PipeSimResult simulate_schedule(const PipeSchedule& s, const PipeCosts& c) {
  const size_t n = size_t(s.P) * size_t(s.M);
  SimState st{s, c, std::vector<double>(n, kNotYet), std::vector<double>(n, kNotYet), std::vector<double>(n, kNotYet)};
  PipeSimResult res;
  const size_t P = size_t(s.P);
  res.busy.assign(P, 0);
  res.slots.assign(P, {});
  std::vector<size_t> next(P, 0);
  std::vector<double> free_at(P, 0);
  for (;;) {
    bool progress = false, all_done = true;
    for (int r = 0; r < s.P; ++r) {
      const auto& ops = s.ranks[size_t(r)];
      while (next[size_t(r)] < ops.size()) {
        const PipeOp& op = ops[next[size_t(r)]];
        const double ready = ready_time(st, r, op, nullptr);
        if (ready == kNotYet) break;
        const double start = std::max(free_at[size_t(r)], ready), end = start + duration(c, op.kind);
        finish(st, r, op, end);
        res.slots[size_t(r)].push_back({op, start, end});
        res.busy[size_t(r)] += end - start;
        free_at[size_t(r)] = end;
        ++next[size_t(r)];
        progress = true;
      }
      if (next[size_t(r)] < ops.size()) all_done = false;
    }
    if (all_done) break;
    if (!progress) {
      std::string msg;
      for (int r = 0; r < s.P; ++r) {
        const auto& ops = s.ranks[size_t(r)];
        if (next[size_t(r)] >= ops.size()) continue;
        std::string why;
        ready_time(st, r, ops[next[size_t(r)]], &why);
        msg += fmt::format("; rank {} op {} ({}) waits for {}", r, next[size_t(r)], pipe_op_name(ops[next[size_t(r)]]),
                           why);
      }
      fail(ErrorKind::kInternal, "{} P = {} M = {}: deadlock{}", pipe_kind_name(s.kind), s.P, s.M, msg);
    }
  }
  for (size_t r = 0; r < P; ++r) res.makespan = std::max(res.makespan, free_at[r]);
  res.idle.assign(P, 0);
  res.peak_activations.assign(P, 0);
  for (size_t r = 0; r < P; ++r) {
    res.idle[r] = res.makespan - res.busy[r];
    res.bubble = std::max(res.bubble, res.idle[r]);
    int live = 0, peak = 0;
    for (const PipeOp& op : s.ranks[r]) {
      if (op.kind == PipeOpKind::kF || op.kind == PipeOpKind::kFB) peak = std::max(peak, ++live);
      if (op.kind == PipeOpKind::kW || op.kind == PipeOpKind::kBW || op.kind == PipeOpKind::kFB) --live;
    }
    res.peak_activations[r] = peak;
    res.peak = std::max(res.peak, peak);
  }
  return res;
}

double table2_bubble(PipeKind k, int P, const PipeCosts& c) {
  const double F = c.f, B = c.b + c.w, W = c.w;
  switch (k) {
    case PipeKind::k1F1B: return (P - 1) * (F + B);
    case PipeKind::kZB1P: return (P - 1) * (F + B - 2 * W);
    case PipeKind::kDualPipe: return (P / 2.0 - 1) * (c.pair() + B - 3 * W);
  }
  return 0;
}

int table2_activations(PipeKind k, int P) { return k == PipeKind::kDualPipe ? P + 1 : P; }
int table2_parameters(PipeKind k) { return k == PipeKind::kDualPipe ? 2 : 1; }

std::string render_timeline(const PipeSchedule& s, const PipeSimResult& r, const PipeCosts& c, double unit) {
  FRUGAL_ASSERT(unit > 0, "timeline unit {}", unit);
  const int cols = int(std::ceil(r.makespan / unit - 1e-9));
  std::vector<std::vector<std::string>> cells(size_t(s.P), std::vector<std::string>(size_t(cols), "."));
  size_t width = 1;
  struct Part {
    char letter;
    int mb;
    double cost;
  };
  for (int rank = 0; rank < s.P; ++rank)
    for (const PipeSlot& sl : r.slots[size_t(rank)]) {
      // The op's parts in order, each taking its cost's share of the slot (so a kFB's parts shrink
      // together when F&B is cheaper than f + b + w).
      const PipeOp& op = sl.op;
      const int bmb = op.kind == PipeOpKind::kFB ? op.mb2 : op.mb;
      std::vector<Part> parts;
      if (op.kind == PipeOpKind::kF || op.kind == PipeOpKind::kFB) parts.push_back({'F', op.mb, c.f});
      if (op.kind == PipeOpKind::kB || op.kind == PipeOpKind::kBW || op.kind == PipeOpKind::kFB)
        parts.push_back({'B', bmb, c.b});
      if (op.kind == PipeOpKind::kW || op.kind == PipeOpKind::kBW || op.kind == PipeOpKind::kFB)
        parts.push_back({'W', bmb, c.w});
      double sum = 0;
      for (const Part& p : parts) sum += p.cost;
      double t = sl.start;
      for (const Part& p : parts) {
        const double end = sum > 0 ? t + (sl.end - sl.start) * p.cost / sum : t;
        char letter = p.letter;
        if (s.direction(p.mb) == 1) letter = char(std::tolower(static_cast<unsigned char>(letter)));
        const std::string label = letter + std::to_string(p.mb);
        width = std::max(width, label.size());
        // A cell shows the part that covers its midpoint.
        for (int col = int(std::floor(t / unit)); col < cols && (col + 0.5) * unit < end; ++col)
          if ((col + 0.5) * unit >= t) cells[size_t(rank)][size_t(col)] = label;
        t = end;
      }
    }
  std::string out;
  const std::string rank_label = fmt::format("rank {}", s.P - 1);
  for (int rank = 0; rank < s.P; ++rank) {
    std::string line = fmt::format("rank {:<{}} |", rank, rank_label.size() - 5);
    for (const std::string& cell : cells[size_t(rank)]) line += fmt::format("{:<{}}", cell, width + 1);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace frugal::dist
