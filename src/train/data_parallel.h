// The training step's hook for data parallelism: what Trainer::step needs from the other ranks.
// src/dist implements it over a Communicator (dist/data_parallel.h); train never sees MPI.
//
// Contract (docs/distributed.md): every rank calls the same methods in the same order with the
// same sizes; reduce_scatter_sum sums in rank order with train/tree_sum.h's tree, so the step's
// results are bit-identical to one process (train_step.h, Determinism).
#pragma once
#include <cstdint>
#include <vector>

namespace frugal {

class DataParallelComm {
 public:
  virtual ~DataParallelComm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In place over buf[0, offsets.back()): this rank's [offsets[rank], offsets[rank+1]) becomes the
  // tree sum over ranks of that range (the rest is unspecified).
  virtual void reduce_scatter_sum(float* buf, const std::vector<int64_t>& offsets) = 0;
  // In place: every rank's [offsets[r], offsets[r+1]) is copied to every rank.
  virtual void all_gather(float* buf, const std::vector<int64_t>& offsets) = 0;
  // Every rank's vector, concatenated in rank order.
  virtual std::vector<double> all_gather_v(const std::vector<double>& local) = 0;
  virtual std::vector<int64_t> all_gather_v(const std::vector<int64_t>& local) = 0;
  virtual void barrier() = 0;
  // Called by the training loop after each step on every rank (dist's fault injection for tests).
  virtual void on_step(int64_t /*step*/) {}
};

}  // namespace frugal
