#include "dist/data_parallel.h"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include "core/error.h"
#include "core/sys.h"

namespace frugal::dist {

CommDataParallel::CommDataParallel(Communicator& comm, int64_t bucket_elems)
    : comm_(comm), bucket_elems_(std::max<int64_t>(1, bucket_elems)) {
  if (const char* k = std::getenv("FRUGAL_DIST_KILL_AT")) {
    long long r = -1, s = -1;
    char mode[8] = {0};
    const int n = std::sscanf(k, "%lld:%lld:%7s", &r, &s, mode);
    if (n < 2 || (n == 3 && std::strcmp(mode, "stop") != 0))
      fail(ErrorKind::kConfig, "FRUGAL_DIST_KILL_AT = '{}': expected RANK:STEP or RANK:STEP:stop", k);
    kill_rank_ = int(r);
    kill_step_ = s;
    stop_ = n == 3;
  }
}

void CommDataParallel::reduce_scatter_sum(float* buf, const std::vector<int64_t>& offsets) {
  check_offsets(offsets, size(), "data-parallel reduce-scatter");
  const double t0 = now_seconds();
  const int me = rank();
  bytes_sent_ += int64_t(sizeof(float)) * (offsets.back() - (offsets[size_t(me) + 1] - offsets[size_t(me)]));
  buffer_elems_ = offsets.back();
  ++reductions_;
  // Bucket b covers [lo, hi) of the flat buffer; each rank's shard intersected with it.
  std::vector<Request> reqs;
  const int64_t n = offsets.back();
  for (int64_t lo = 0; lo < n; lo += bucket_elems_) {
    const int64_t hi = std::min(n, lo + bucket_elems_);
    std::vector<int64_t> off(offsets.size());
    for (size_t r = 0; r < off.size(); ++r) off[r] = std::clamp(offsets[r], lo, hi) - lo;
    reqs.push_back(comm_.ireduce_scatter_sum(buf + lo, off));
  }
  wait_all(reqs);
  seconds_ += now_seconds() - t0;
}

void CommDataParallel::all_gather(float* buf, const std::vector<int64_t>& offsets) {
  const double t0 = now_seconds();
  comm_.all_gather(buf, offsets);
  const int me = rank();
  bytes_sent_ += int64_t(sizeof(float)) * (offsets[size_t(me) + 1] - offsets[size_t(me)]) * (size() - 1);
  seconds_ += now_seconds() - t0;
}

double CommDataParallel::analytic_bytes_per_step() const {
  const double P = size();
  return 2.0 * (P - 1) / P * double(sizeof(float)) * double(buffer_elems_);
}
std::vector<double> CommDataParallel::all_gather_v(const std::vector<double>& local) { return comm_.all_gather_v(local); }
std::vector<int64_t> CommDataParallel::all_gather_v(const std::vector<int64_t>& local) {
  return comm_.all_gather_v(local);
}

void CommDataParallel::on_step(int64_t step) {
  if (rank() == kill_rank_ && step == kill_step_) {
    std::fprintf(stderr, "frugal: FRUGAL_DIST_KILL_AT: rank %d %s after step %lld\n", rank(),
                 stop_ ? "stops (SIGSTOP: hangs)" : "kills itself (SIGKILL)", (long long)step);
    std::fflush(stderr);
    ::kill(::getpid(), stop_ ? SIGSTOP : SIGKILL);
  }
}

std::string build_id() {
  return fmt::format("frugal built {} {} by {}", __DATE__, __TIME__, __VERSION__);
}

void handshake(Communicator& comm, const std::string& fingerprint, const std::string& what) {
  // FNV-1a of the fingerprint, and its length: equal on every rank or the job stops.
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : fingerprint) h = (h ^ ch) * 1099511628211ULL;
  const std::vector<int64_t> all = comm.all_gather_v(std::vector<int64_t>{int64_t(h), int64_t(fingerprint.size())});
  for (int r = 1; r < comm.size(); ++r)
    if (all[2 * size_t(r)] != all[0] || all[2 * size_t(r) + 1] != all[1])
      fail(ErrorKind::kInvalidArgument,
           "start-up handshake: rank {}'s {} differs from rank 0's (every rank must run the same binary with the same "
           "configuration)",
           r, what);
}

}  // namespace frugal::dist
