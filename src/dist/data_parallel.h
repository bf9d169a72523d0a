// Data parallelism over a Communicator: the adapter that gives Trainer::step its hook
// (train/data_parallel.h), plus the start-of-job handshake and the test fault injection.
//
// Gradients are reduced in buckets: the flat gradient is cut into ranges of bucket_elems floats,
// each bucket's reduce-scatter is issued non-blocking, and all are waited together, so the
// temporary of one reduction is one bucket (×P), not the model. The reduction runs after the
// backward pass of the rank's micro-batches (docs/distributed.md: not yet overlapped with it).
#pragma once
#include <cstdint>
#include <string>

#include "dist/communicator.h"
#include "train/data_parallel.h"

namespace frugal::dist {

class CommDataParallel final : public DataParallelComm {
 public:
  explicit CommDataParallel(Communicator& comm, int64_t bucket_elems = int64_t(1) << 22);
  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }
  void reduce_scatter_sum(float* buf, const std::vector<int64_t>& offsets) override;
  void all_gather(float* buf, const std::vector<int64_t>& offsets) override;
  std::vector<double> all_gather_v(const std::vector<double>& local) override;
  std::vector<int64_t> all_gather_v(const std::vector<int64_t>& local) override;
  void barrier() override { comm_.barrier(); }
  // FRUGAL_DIST_KILL_AT="R:S": rank R kills itself with SIGKILL after step S; "R:S:stop" stops
  // it with SIGSTOP instead (a hung rank: the others hit the collective timeout). The failure
  // tests of docs/distributed.md; unset: nothing.
  void on_step(int64_t step) override;
  Communicator& comm() { return comm_; }

  // What this rank spent in and sent through the reduce-scatter and all-gather calls so far
  // (the gradient and parameter traffic; the small per-step statistics are not counted).
  double comm_seconds() const { return seconds_; }
  int64_t bytes_sent() const { return bytes_sent_; }
  int64_t reductions() const { return reductions_; }   // reduce_scatter_sum calls (one per step)
  int64_t buffer_elems() const { return buffer_elems_; }  // floats of the last reduced buffer
  // The analytic bytes one rank sends per step: its share of the reduce-scatter, (P-1)/P of the
  // buffer, plus the all-gather of its shard to P-1 ranks: 2·(P-1)/P·4·N for even shards.
  double analytic_bytes_per_step() const;

 private:
  Communicator& comm_;
  int64_t bucket_elems_;
  int kill_rank_ = -1;
  int64_t kill_step_ = -1;
  bool stop_ = false;
  double seconds_ = 0;
  int64_t bytes_sent_ = 0, reductions_ = 0, buffer_elems_ = 0;
};

// Every rank presents `fingerprint` (e.g. the resolved config plus the binary's build id); throws
// Error(kInvalidArgument) on every rank naming the first rank whose fingerprint differs from rank 0's.
void handshake(Communicator& comm, const std::string& fingerprint, const std::string& what);

// A build id of this binary: compiler, date and time of this file's compilation.
std::string build_id();

}  // namespace frugal::dist
