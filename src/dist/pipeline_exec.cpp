#include "dist/pipeline_exec.h"

#include <chrono>
#include <list>
#include <map>

#include "core/error.h"

namespace frugal::dist {

namespace {

double pipe_now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int pipe_tag(int mb, bool grad) { return 2 * mb + (grad ? 1 : 0); }

// The rank's executor state: posted receives by tag, sends in flight.
class PipeRankRunner {
 public:
  PipeRankRunner(const PipeSchedule& s, Communicator& comm, PipeStageCompute& stage)
      : s_(s), comm_(comm), stage_(stage), rank_(comm.rank()), n_(stage.activation_elems()) {}

  PipeRunStats run() {
    const double t0 = pipe_now_s();
    const auto& ops = s_.ranks[size_t(rank_)];
    for (size_t i = 0; i < ops.size(); ++i) {
      post_receives(ops[i]);
      if (i + 1 < ops.size()) post_receives(ops[i + 1]);  // in flight while op i computes
      run_op(ops[i]);
      reap_sends();
    }
    const double tw = pipe_now_s();
    for (auto& snd : sends_) snd.req.wait();
    sends_.clear();
    stats_.wait_s += pipe_now_s() - tw;
    FRUGAL_ASSERT(recvs_.empty(), "rank {}: {} receives never used", rank_, recvs_.size());
    stats_.total_s = pipe_now_s() - t0;
    return stats_;
  }

 private:
  struct Recv {
    std::vector<float> buf;
    Request req;
  };
  struct Send {
    std::vector<float> buf;
    Request req;
  };

  int stage_of(int mb) const { return s_.stage_of(rank_, s_.direction(mb)); }
  int upstream(int mb) const { return s_.rank_of(stage_of(mb) - 1, s_.direction(mb)); }
  int downstream(int mb) const { return s_.rank_of(stage_of(mb) + 1, s_.direction(mb)); }
  bool first(int mb) const { return stage_of(mb) == 0; }
  bool last(int mb) const { return stage_of(mb) == s_.P - 1; }

  void post(int tag, int src) {
    if (recvs_.count(tag)) return;
    Recv& r = recvs_[tag];
    r.buf.resize(size_t(n_));
    r.req = comm_.irecv(r.buf.data(), n_ * int64_t(sizeof(float)), src, tag);
  }
  void post_receives(const PipeOp& op) {
    if ((op.kind == PipeOpKind::kF || op.kind == PipeOpKind::kFB) && !first(op.mb)) post(pipe_tag(op.mb, false), upstream(op.mb));
    const int bmb = op.kind == PipeOpKind::kFB ? op.mb2 : op.mb;
    if ((op.kind == PipeOpKind::kB || op.kind == PipeOpKind::kBW || op.kind == PipeOpKind::kFB) && !last(bmb))
      post(pipe_tag(bmb, true), downstream(bmb));
  }
  // The received buffer of `tag`, waited for; the caller owns it.
  std::vector<float> take(int tag) {
    auto it = recvs_.find(tag);
    FRUGAL_ASSERT(it != recvs_.end(), "rank {}: receive of tag {} not posted", rank_, tag);
    const double t = pipe_now_s();
    it->second.req.wait();
    stats_.wait_s += pipe_now_s() - t;
    std::vector<float> buf = std::move(it->second.buf);
    recvs_.erase(it);
    return buf;
  }
  void send(std::vector<float> buf, int dest, int tag) {
    sends_.push_back({std::move(buf), Request()});
    Send& snd = sends_.back();
    snd.req = comm_.isend(snd.buf.data(), n_ * int64_t(sizeof(float)), dest, tag);
    stats_.bytes_sent += n_ * int64_t(sizeof(float));
  }
  void reap_sends() {
    for (auto it = sends_.begin(); it != sends_.end();) it = it->req.test() ? sends_.erase(it) : std::next(it);
  }
  template <class Fn>
  void timed(Fn&& fn) {
    const double t = pipe_now_s();
    fn();
    stats_.compute_s += pipe_now_s() - t;
  }

  void forward(int mb) {
    std::vector<float> in;
    if (!first(mb)) in = take(pipe_tag(mb, false));
    std::vector<float> out(last(mb) ? 0 : size_t(n_));
    timed([&] { stage_.forward(s_.direction(mb), mb, first(mb) ? nullptr : in.data(), last(mb) ? nullptr : out.data()); });
    if (!last(mb)) send(std::move(out), downstream(mb), pipe_tag(mb, false));
  }
  void backward_input(int mb) {
    std::vector<float> dout;
    if (!last(mb)) dout = take(pipe_tag(mb, true));
    std::vector<float> din(first(mb) ? 0 : size_t(n_));
    timed([&] {
      stage_.backward_input(s_.direction(mb), mb, last(mb) ? nullptr : dout.data(), first(mb) ? nullptr : din.data());
    });
    if (!first(mb)) send(std::move(din), upstream(mb), pipe_tag(mb, true));
  }
  void backward_weight(int mb) {
    timed([&] { stage_.backward_weight(s_.direction(mb), mb); });
  }
  void run_op(const PipeOp& op) {
    switch (op.kind) {
      case PipeOpKind::kF: forward(op.mb); break;
      case PipeOpKind::kB: backward_input(op.mb); break;
      case PipeOpKind::kW: backward_weight(op.mb); break;
      case PipeOpKind::kBW:
        backward_input(op.mb);
        backward_weight(op.mb);
        break;
      case PipeOpKind::kFB:
        forward(op.mb);
        backward_input(op.mb2);
        backward_weight(op.mb2);
        break;
    }
  }

  const PipeSchedule& s_;
  Communicator& comm_;
  PipeStageCompute& stage_;
  int rank_;
  int64_t n_;
  std::map<int, Recv> recvs_;
  std::list<Send> sends_;
  PipeRunStats stats_;
};

}  // namespace

PipeRunStats run_pipeline(const PipeSchedule& s, Communicator& comm, PipeStageCompute& stage) {
  if (comm.size() != s.P)
    fail(ErrorKind::kInvalidArgument, "pipeline schedule for P = {} stages run on {} ranks ({})", s.P, comm.size(),
         comm.name());
  return PipeRankRunner(s, comm, stage).run();
}

}  // namespace frugal::dist
