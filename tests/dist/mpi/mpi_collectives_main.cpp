// Run under mpirun (ctest: dist_mpi_collectives_np2 / _np4): every collective of the MPI
// communicator against the plain references of collective_checks.h. Exit 0 when every rank passed.
#include <cstdio>

#include "dist/mpi_communicator.h"
#include "dist/collective_checks.h"

int main() {
  try {
    frugal::dist::MpiCommunicator comm;
    comm.set_timeout_s(30);
    const std::vector<std::string> bad = frugal::dist::testing::check_every_collective(comm);
    for (const std::string& b : bad) std::fprintf(stderr, "rank %d: FAIL %s\n", comm.rank(), b.c_str());
    // Every rank's verdict reaches rank 0, so the job's exit status is the whole job's.
    std::vector<double> verdict{double(bad.size())};
    const std::vector<double> all = comm.all_gather_v(verdict);
    double total = 0;
    for (double v : all) total += v;
    if (comm.rank() == 0) std::printf("mpi collectives on %d ranks: %s\n", comm.size(), total == 0 ? "ok" : "FAILED");
    return total == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
