#include "dist/communicator.h"

#include <chrono>
#include <thread>

#include "core/error.h"
#include "core/sys.h"
#include "train/tree_sum.h"

namespace frugal::dist {

namespace {

// A request made of steps: the current operation, then each `next` function in turn (which may
// start another operation, or compute locally and return a complete Request).
class ChainState : public RequestState {
 public:
  ChainState(Request first, std::vector<std::function<Request()>> next) : cur_(std::move(first)), next_(std::move(next)) {}
  bool test() override {
    // Never re-entered: the progress engine tests each state only from the top level.
    if (done_) return true;
    for (;;) {
      if (!cur_.test()) return false;
      if (i_ == next_.size()) return done_ = true;
      cur_ = next_[i_++]();
    }
  }

 private:
  bool done_ = false;
  Request cur_;
  std::vector<std::function<Request()>> next_;
  size_t i_ = 0;
};

}  // namespace

bool ProgressEngine::poll_and_test(RequestState& own) {
  if (busy_) return own.test();
  busy_ = true;
  struct Reset {
    bool& b;
    ~Reset() { b = false; }
  } reset{busy_};
  std::vector<std::weak_ptr<RequestState>> still;
  // live_ may grow while polling (a chain starting its next stage registers it): index, not iterators.
  for (size_t i = 0; i < live_.size(); ++i) {
    std::shared_ptr<RequestState> s = live_[i].lock();
    if (s && !s->test()) still.push_back(s);
  }
  live_ = std::move(still);
  return own.test();
}

bool Request::test() {
  if (!s_) return true;
  return engine_ ? engine_->poll_and_test(*s_) : s_->test();
}

void Request::wait() {
  if (!s_) return;
  const double start = now_seconds();
  // Poll with yields first: MPI's non-blocking collectives advance inside MPI_Test, so a waiting
  // rank that sleeps slows the transfer, while a yield still hands an oversubscribed core to a rank
  // that computes. After ~0.1 s of waiting (a peer is computing, not sending), back off to sleeps.
  for (int64_t spins = 0; !test(); ++spins) {
    if ((spins & 1023) == 0 && timeout_s_ > 0 && now_seconds() - start > timeout_s_)
      fail(ErrorKind::kIo,
           "{}: no completion after {:g} s (dist timeout): another rank has died, hangs, or issued a different "
           "collective",
           what_, timeout_s_);
    if (now_seconds() - start < 0.1) std::this_thread::yield();
    else std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

void wait_all(std::vector<Request>& requests) {
  for (Request& r : requests) r.wait();
}

void check_offsets(const std::vector<int64_t>& offsets, int size, const char* what) {
  if (offsets.size() != size_t(size) + 1 || offsets[0] != 0)
    fail(ErrorKind::kInvalidArgument, "{}: {} offsets for {} ranks (need size + 1, starting at 0)", what,
         offsets.size(), size);
  for (size_t i = 1; i < offsets.size(); ++i)
    if (offsets[i] < offsets[i - 1])
      fail(ErrorKind::kInvalidArgument, "{}: offsets decrease at rank {} ({} < {})", what, i - 1, offsets[i],
           offsets[i - 1]);
}

std::vector<int64_t> Communicator::even_offsets(int64_t n, int parts) {
  std::vector<int64_t> off(size_t(parts) + 1, 0);
  for (int r = 0; r < parts; ++r) off[size_t(r) + 1] = off[size_t(r)] + n / parts + (r < n % parts ? 1 : 0);
  return off;
}

std::vector<int64_t> Communicator::bytes(const std::vector<int64_t>& elems, size_t elem_size) {
  std::vector<int64_t> b(elems.size());
  for (size_t i = 0; i < elems.size(); ++i) b[i] = elems[i] * int64_t(elem_size);
  return b;
}

std::string Communicator::op_name(const char* op) const {
  return fmt::format("rank {}/{} ({}): {}", rank(), size(), name(), op);
}

template <class T>
Request Communicator::reduce_scatter_impl(T* buf, const std::vector<int64_t>& off, const char* what) {
  const int P = size(), r = rank();
  check_offsets(off, P, what);
  const int64_t L = off[size_t(r) + 1] - off[size_t(r)];
  if (P == 1) return Request();
  // This rank's shard as every rank holds it: P slices of L, rank order.
  auto parts = std::make_shared<std::vector<T>>(size_t(P) * size_t(L));
  const size_t np = static_cast<size_t>(P);
  std::vector<int64_t> send_counts(np), send_offsets(np), recv_counts(np, L), recv_offsets(np);
  for (int q = 0; q < P; ++q) {
    send_counts[size_t(q)] = off[size_t(q) + 1] - off[size_t(q)];
    send_offsets[size_t(q)] = off[size_t(q)];
    recv_offsets[size_t(q)] = int64_t(q) * L;
  }
  Request a2a = iall_to_all_v<T>(buf, send_counts, send_offsets, parts->data(), recv_counts, recv_offsets);
  auto sum = [parts, buf, P, L, o = off[size_t(r)]] {
    std::vector<const T*> ptrs;
    for (int q = 0; q < P; ++q) ptrs.push_back(parts->data() + size_t(q) * size_t(L));
    tree_sum<T>(ptrs, buf + o, L);
    return Request();
  };
  return make_request(std::make_shared<ChainState>(std::move(a2a), std::vector<std::function<Request()>>{sum}), op_name(what));
}

template <class T>
Request Communicator::all_gather_impl(T* buf, const std::vector<int64_t>& off, const char* what, int64_t op_id) {
  const int P = size(), r = rank();
  check_offsets(off, P, what);
  if (op_id < 0) op_id = reserve_op_id();
  if (P == 1) return Request();
  std::vector<int64_t> counts(static_cast<size_t>(P));
  for (int q = 0; q < P; ++q) counts[size_t(q)] = off[size_t(q) + 1] - off[size_t(q)];
  Request req = start_all_gather_v(op_id, buf + off[size_t(r)], counts[size_t(r)] * int64_t(sizeof(T)), buf,
                              bytes(counts, sizeof(T)), bytes(std::vector<int64_t>(off.begin(), off.end() - 1), sizeof(T)));
  return req;
}

template <class T>
Request Communicator::all_reduce_impl(T* buf, int64_t n, const char* what) {
  if (size() == 1) return Request();
  auto off = std::make_shared<std::vector<int64_t>>(even_offsets(n, size()));
  Request rs = reduce_scatter_impl(buf, *off, what);
  // The all-gather stage starts when this rank sees the reduce-scatter complete; its id is fixed
  // now, so it pairs with the other ranks' whatever else they issued or completed meanwhile.
  const int64_t gather_id = reserve_op_id();
  std::vector<std::function<Request()>> next{
      [this, buf, off, what, gather_id] { return all_gather_impl(buf, *off, what, gather_id); }};
  return make_request(std::make_shared<ChainState>(std::move(rs), std::move(next)), op_name(what));
}

template <class T>
std::vector<T> Communicator::all_gather_v_impl(const std::vector<T>& local) {
  const int P = size(), r = rank();
  std::vector<int64_t> counts(static_cast<size_t>(P), 0);
  counts[size_t(r)] = int64_t(local.size());
  all_gather_impl(counts.data(), even_offsets(P, P), "all-gather-v (counts)").wait();
  std::vector<int64_t> off(size_t(P) + 1, 0);
  for (int q = 0; q < P; ++q) off[size_t(q) + 1] = off[size_t(q)] + counts[size_t(q)];
  std::vector<T> all(size_t(off.back()));
  std::copy(local.begin(), local.end(), all.begin() + off[size_t(r)]);
  all_gather_impl(all.data(), off, "all-gather-v").wait();
  return all;
}

Request Communicator::ireduce_scatter_sum(float* buf, const std::vector<int64_t>& offsets) {
  return reduce_scatter_impl(buf, offsets, "reduce-scatter f32");
}
Request Communicator::ireduce_scatter_sum(double* buf, const std::vector<int64_t>& offsets) {
  return reduce_scatter_impl(buf, offsets, "reduce-scatter f64");
}
Request Communicator::iall_gather(float* buf, const std::vector<int64_t>& offsets) {
  return all_gather_impl(buf, offsets, "all-gather f32");
}
Request Communicator::iall_gather(double* buf, const std::vector<int64_t>& offsets) {
  return all_gather_impl(buf, offsets, "all-gather f64");
}
Request Communicator::iall_reduce_sum(float* buf, int64_t n) { return all_reduce_impl(buf, n, "all-reduce f32"); }
Request Communicator::iall_reduce_sum(double* buf, int64_t n) { return all_reduce_impl(buf, n, "all-reduce f64"); }
std::vector<double> Communicator::all_gather_v(const std::vector<double>& local) { return all_gather_v_impl(local); }
std::vector<int64_t> Communicator::all_gather_v(const std::vector<int64_t>& local) { return all_gather_v_impl(local); }

}  // namespace frugal::dist
