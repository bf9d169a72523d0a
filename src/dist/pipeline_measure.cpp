#include "dist/pipeline_measure.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <mutex>

#include "dist/in_process.h"

namespace frugal::dist {

namespace {

double pipe_measure_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double pipe_median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

PipeCosts measure_pipe_op_costs(const PipeBlocksConfig& cfg, int P, int reps) {
  // A middle stage (rank 1 of a 1F1B pipeline, when there is one) takes an input and sends an
  // output, as most stages do.
  const PipeSchedule s = make_schedule(PipeKind::k1F1B, P, std::max(reps, 1));
  PipeBlocksStage stage(cfg, s, P > 1 ? 1 : 0);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);  // as each rank of the measured run
  const int64_t n = stage.activation_elems();
  std::vector<float> in = pipe_blocks_input(cfg, 0), out(static_cast<size_t>(n)), dout = pipe_blocks_target(cfg, 0), din(static_cast<size_t>(n));
  const bool last = P == 1;
  std::vector<double> f, b, w;
  for (int mb = 0; mb < reps; ++mb) {  // (the first micro-batch also warms the caches)
    double t = pipe_measure_now();
    stage.forward(0, mb, P > 1 ? in.data() : nullptr, last ? nullptr : out.data());
    f.push_back(pipe_measure_now() - t);
    t = pipe_measure_now();
    stage.backward_input(0, mb, last ? nullptr : dout.data(), P > 1 ? din.data() : nullptr);
    b.push_back(pipe_measure_now() - t);
    t = pipe_measure_now();
    stage.backward_weight(0, mb);
    w.push_back(pipe_measure_now() - t);
  }
  omp_set_num_threads(threads);
  PipeCosts c;
  c.f = pipe_median(f);
  c.b = pipe_median(b);
  c.w = pipe_median(w);
  c.fb = c.f + c.b + c.w;
  return c;
}

PipeMeasuredRun measure_pipe_run(const PipeBlocksConfig& cfg, const PipeSchedule& s) {
  PipeMeasuredRun res;
  res.ranks.resize(size_t(s.P));
  std::mutex mu;
  run_in_process(s.P, [&](Communicator& comm) {
    omp_set_num_threads(1);  // one core's worth per rank, as mpirun -x OMP_NUM_THREADS=1 would give
    PipeBlocksStage stage(cfg, s, comm.rank());
    run_pipeline(s, comm, stage);
    stage.finish_step(comm);
    comm.barrier();
    const PipeRunStats st = run_pipeline(s, comm, stage);
    stage.finish_step(comm);
    std::lock_guard<std::mutex> lock(mu);
    res.ranks[size_t(comm.rank())] = st;
  });
  for (const PipeRunStats& st : res.ranks) {
    res.makespan_s = std::max(res.makespan_s, st.total_s);
    res.bubble_s = std::max(res.bubble_s, st.total_s - st.compute_s);
  }
  return res;
}

}  // namespace frugal::dist
