// MpiCommunicator: the ranks of an `mpirun` job (MPI_COMM_WORLD), OpenMPI from Debian. The only
// file pair of the tree that includes <mpi.h>. Primitives map to MPI_Iallgatherv, MPI_Ialltoallv,
// MPI_Isend and MPI_Irecv on bytes; waits poll MPI_Test with the communicator's timeout, so a dead
// or hung peer gives an error instead of a hang (docs/distributed.md, Failures).
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
  Request iall_gather_v(const void* send, int64_t send_bytes, void* recv, const std::vector<int64_t>& counts,
                        const std::vector<int64_t>& offsets) override;
  Request iall_to_all_v(const void* send, const std::vector<int64_t>& send_counts,
                        const std::vector<int64_t>& send_offsets, void* recv, const std::vector<int64_t>& recv_counts,
                        const std::vector<int64_t>& recv_offsets) override;
  Request isend(const void* data, int64_t bytes, int dest, int tag) override;
  Request irecv(void* data, int64_t bytes, int src, int tag) override;
  void barrier() override;
  [[noreturn]] void abort(int code) override;  // MPI_Abort: mpirun ends every rank

  // True when this process was started by mpirun (OMPI_COMM_WORLD_SIZE / PMI_SIZE set).
  static bool launched_by_mpirun();

 private:
  int rank_ = 0, size_ = 1;
  bool finalize_ = false;
};

}  // namespace frugal::dist
