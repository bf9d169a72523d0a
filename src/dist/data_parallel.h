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

 private:
  Communicator& comm_;
  int64_t bucket_elems_;
  int kill_rank_ = -1;
  int64_t kill_step_ = -1;
  bool stop_ = false;
};

// Every rank presents `fingerprint` (e.g. the resolved config plus the binary's build id); throws
// Error(kInvalidArgument) on every rank naming the first rank whose fingerprint differs from rank 0's.
void handshake(Communicator& comm, const std::string& fingerprint, const std::string& what);

// A build id of this binary: compiler, date and time of this file's compilation.
std::string build_id();

}  // namespace frugal::dist
