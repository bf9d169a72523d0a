// Run under mpirun (ctest: dist_mpi_pipeline_np2 / _np4): the pipeline executor over the MPI
// communicator, 1F1B and DualPipe (and ZB1P) on a stack of dense decoder layers (MLA + SwiGLU), two SGD steps,
// against one process computed on every rank: the M losses, every chunk's gradient and weights
// equal bit for bit (M a power of two, so DualPipe's halves are the tree's root subtrees). Exit 0
// when every rank passed.
#include <omp.h>

#include <cstdio>

#include "dist/mpi_communicator.h"
#include "dist/pipeline_blocks.h"
#include "dist/pipeline_exec.h"

namespace {

using namespace frugal::dist;

// Mismatches of this rank for one schedule.
int check_schedule(Communicator& comm, PipeKind kind, int M) {
  PipeBlocksConfig cfg;
  cfg.layers = 2 * comm.size();
  const PipeSchedule s = make_schedule(kind, comm.size(), M);
  PipeBlockParams ref(cfg, 0, cfg.layers);
  PipeBlocksStage stage(cfg, s, comm.rank());
  const int64_t per_layer = PipeBlockParams::layer_numel(cfg);
  int bad = 0;
  for (int step = 0; step < 2; ++step) {
    const PipeBlocksResult want = pipe_blocks_reference_step(ref, M);
    run_pipeline(s, comm, stage);
    const PipeBlocksResult got = stage.finish_step(comm);
    for (int64_t k = 0; k < ref.numel(); ++k) ref.weights()[k] = ref.weights()[k] - 0.5f * ref.grads()[k];
    stage.sgd(0.5f);
    bad += got.losses != want.losses || got.loss != want.loss;
    for (int d = 0; d < s.chunks_per_rank(); ++d) {
      PipeBlockParams& c = stage.chunk(d);
      const int64_t off = c.first_layer() * per_layer;
      for (int64_t k = 0; k < c.numel(); ++k)
        bad += c.grads()[k] != ref.grads()[off + k] || c.weights()[k] != ref.weights()[off + k];
    }
  }
  if (bad) std::fprintf(stderr, "rank %d: %s M = %d: %d mismatches\n", comm.rank(), pipe_kind_name(kind), M, bad);
  return bad;
}

}  // namespace

int main() {
  try {
    omp_set_num_threads(1);
    MpiCommunicator comm;
    comm.set_timeout_s(30);
    const int P = comm.size();
    int bad = check_schedule(comm, PipeKind::k1F1B, 2 * P + 1) + check_schedule(comm, PipeKind::kZB1P, 2 * P);
    if (P % 2 == 0) bad += check_schedule(comm, PipeKind::kDualPipe, 4 * P);
    const std::vector<double> all = comm.all_gather_v(std::vector<double>{double(bad)});
    double total = 0;
    for (double v : all) total += v;
    if (comm.rank() == 0) std::printf("mpi pipeline on %d ranks: %s\n", P, total == 0 ? "ok" : "FAILED");
    return total == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
