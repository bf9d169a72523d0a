// MpiCommunicator: the ranks of an `mpirun` job (MPI_COMM_WORLD), OpenMPI from Debian. The only
// file pair of the tree that includes <mpi.h>. The collective primitives are point-to-point
// messages (MPI_Isend/MPI_Irecv of bytes) on a private duplicate of MPI_COMM_WORLD, tagged with
// the operation id, not MPI_Iallgatherv/MPI_Ialltoallv: MPI's non-blocking collectives must be
// started in the same order on every rank, which a multi-stage collective whose later stages start
// from test() cannot promise, while tagged messages pair up in any order. User send/recv use
// MPI_COMM_WORLD, so their tags never meet the internal ones. Waits poll MPI_Test with the
// communicator's timeout, so a dead or hung peer gives an error instead of a hang
// (docs/distributed.md, Failures).
#pragma once
#include <memory>

#include "dist/communicator.h"

namespace frugal::dist {

class MpiCommunicator final : public Communicator {
 public:
  // Initializes MPI (MPI_THREAD_FUNNELED: only the calling thread talks to MPI; OpenMP workers
  // never do) unless it already is. Finalizes in the destructor when it initialized.
  MpiCommunicator();
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }
  Request isend(const void* data, int64_t bytes, int dest, int tag) override;
  Request irecv(void* data, int64_t bytes, int src, int tag) override;
  void barrier() override;
  [[noreturn]] void abort(int code) override;  // MPI_Abort: mpirun ends every rank

  // True when this process was started by mpirun (OMPI_COMM_WORLD_SIZE / PMI_SIZE set).
  static bool launched_by_mpirun();

 protected:
  Request start_all_gather_v(int64_t op_id, const void* send, int64_t send_bytes, void* recv,
                             const std::vector<int64_t>& counts, const std::vector<int64_t>& offsets) override;
  Request start_all_to_all_v(int64_t op_id, const void* send, const std::vector<int64_t>& send_counts,
                             const std::vector<int64_t>& send_offsets, void* recv, const std::vector<int64_t>& recv_counts,
                             const std::vector<int64_t>& recv_offsets) override;

 private:
  int tag_of(int64_t op_id) const { return int(op_id % tag_limit_); }
  int rank_ = 0, size_ = 1;
  bool finalize_ = false;
  int64_t tag_limit_ = 32768;   // MPI_TAG_UB + 1 (at least 32768 by the standard)
  void* coll_comm_ = nullptr;   // MPI_Comm of the collectives (a duplicate of MPI_COMM_WORLD), owned
};

}  // namespace frugal::dist
