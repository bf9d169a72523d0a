// InProcessCommunicator: N ranks as threads of one process, exchanging through a shared hub — the
// communicator of the tests (no mpirun needed), with the same semantics as MpiCommunicator: the
// typed collectives of communicator.h run the same code on top of these primitives.
//
// A collective is a rendezvous: operation k (communicator.h, op ids) of every rank meets in round k; once all have
// posted their buffers each rank copies what it receives straight from the others' buffers, and
// the operation completes when every rank has copied (so no send buffer is released early).
// Sends are buffered (isend completes at once); irecv completes when a matching message is there.
#pragma once
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "dist/communicator.h"

namespace frugal::dist {

class InProcessHub;

class InProcessCommunicator final : public Communicator {
 public:
  InProcessCommunicator(std::shared_ptr<InProcessHub> hub, int rank);
  int rank() const override { return rank_; }
  int size() const override;
  std::string name() const override { return "in-process"; }
  Request isend(const void* data, int64_t bytes, int dest, int tag) override;
  Request irecv(void* data, int64_t bytes, int src, int tag) override;
  void barrier() override;
  // Throws Error(kIo) "rank r aborted" (a thread cannot end the others; their waits time out).
  [[noreturn]] void abort(int code) override;

 protected:
  Request start_all_gather_v(int64_t op_id, const void* send, int64_t send_bytes, void* recv,
                             const std::vector<int64_t>& counts, const std::vector<int64_t>& offsets) override;
  Request start_all_to_all_v(int64_t op_id, const void* send, const std::vector<int64_t>& send_counts,
                             const std::vector<int64_t>& send_offsets, void* recv, const std::vector<int64_t>& recv_counts,
                             const std::vector<int64_t>& recv_offsets) override;

 private:
  std::shared_ptr<InProcessHub> hub_;
  int rank_;
};

// Runs fn(comm) on `size` threads, one per rank, each with its own communicator (timeout_s set on
// each); joins them all and rethrows the first exception (by rank) if any rank threw.
void run_in_process(int size, const std::function<void(Communicator&)>& fn, double timeout_s = 60);

}  // namespace frugal::dist
