// Communicator: the ranks of a distributed job and the collectives training needs
// (docs/distributed.md). The only interface callers see; MPI (mpi_communicator.h) and threads in
// one process (in_process.h) implement it, and an NCCL one could be added the same way.
//
// An implementation provides five byte-moving primitives (all-gather-v, all-to-all-v, send, recv,
// barrier), each non-blocking (a Request). Everything arithmetic is built here, once, on top of
// them, so every implementation reduces with the same additions in the same order:
//   reduce_scatter(sum): all-to-all-v of the shards, then each rank sums the P contributions of
//     its shard with the fixed tree of train/tree_sum.h (ranks in order) — deterministic, and
//     bit-identical to one process summing the same parts in that tree.
//   all_reduce(sum) = reduce_scatter into P equal shards + all-gather.
// MPI's own MPI_Allreduce is not used: its summation order is the library's choice.
//
// Every wait is bounded by timeout_s (default 300 s): a rank that died or hangs makes the others
// throw Error(kIo) naming the operation instead of waiting forever. Collectives must be issued in
// the same order by every rank (as in MPI).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace frugal::dist {

// The progress of one non-blocking operation.
class RequestState {
 public:
  virtual ~RequestState() = default;
  virtual bool test() = 0;  // advances it; true once complete (and then stays true)
};

// Every pending request of one communicator (one rank). Testing any request first tests all of
// them once, in issue order, so a rank blocked in one wait still advances the others — the copies
// the peers are waiting for, and the later stages of multi-stage collectives. Without it, two ranks
// waiting on different requests could each wait for the other's progress.
class ProgressEngine {
 public:
  void add(const std::shared_ptr<RequestState>& s) { live_.push_back(s); }
  // Tests every pending request once, then `own`; true when `own` is complete. Inside a state's
  // test() (a chain testing its current stage) only `own` is tested: no state is ever re-entered.
  bool poll_and_test(RequestState& own);

 private:
  std::vector<std::weak_ptr<RequestState>> live_;
  bool busy_ = false;
};

class Request {
 public:
  Request() = default;  // an already-complete request
  Request(std::shared_ptr<RequestState> s, std::string what, double timeout_s,
          std::shared_ptr<ProgressEngine> engine = nullptr)
      : s_(std::move(s)), what_(std::move(what)), timeout_s_(timeout_s), engine_(std::move(engine)) {
    if (engine_ && s_) engine_->add(s_);
  }
  bool test();  // true when complete (a default Request is)
  // Blocks until complete; throws Error(kIo) "<what>: no progress for <timeout> s ..." past the timeout.
  void wait();
  const std::string& what() const { return what_; }

 private:
  std::shared_ptr<RequestState> s_;
  std::string what_;
  double timeout_s_ = 0;
  std::shared_ptr<ProgressEngine> engine_;
};

void wait_all(std::vector<Request>& requests);

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;  // "mpi", "in-process"
  double timeout_s() const { return timeout_s_; }
  void set_timeout_s(double t) { timeout_s_ = t; }

  // ---- primitives (bytes) ----
  // Every rank sends `send_bytes` bytes; recv receives rank r's at offsets[r] (counts[r] bytes).
  Request iall_gather_v(const void* send, int64_t send_bytes, void* recv, const std::vector<int64_t>& counts,
                        const std::vector<int64_t>& offsets) {
    return start_all_gather_v(next_op_id_++, send, send_bytes, recv, counts, offsets);
  }
  // Rank r's part for rank q is send + send_offsets[q] (send_counts[q] bytes); it arrives at
  // recv + recv_offsets[r] on rank q.
  Request iall_to_all_v(const void* send, const std::vector<int64_t>& send_counts,
                        const std::vector<int64_t>& send_offsets, void* recv, const std::vector<int64_t>& recv_counts,
                        const std::vector<int64_t>& recv_offsets) {
    return start_all_to_all_v(next_op_id_++, send, send_counts, send_offsets, recv, recv_counts, recv_offsets);
  }
  virtual Request isend(const void* data, int64_t bytes, int dest, int tag) = 0;
  virtual Request irecv(void* data, int64_t bytes, int src, int tag) = 0;
  virtual void barrier() = 0;
  // Ends the whole job now (after an error on this rank); never returns. In-process: throws.
  [[noreturn]] virtual void abort(int code) = 0;

  // ---- typed collectives (sums are deterministic: the tree over ranks in order) ----
  // In place: on return [offsets[r], offsets[r+1]) of this rank's buffer holds Σ over ranks of
  // that range; the rest of buf is unspecified. offsets has size()+1 entries, offsets[0] = 0.
  Request ireduce_scatter_sum(float* buf, const std::vector<int64_t>& offsets);
  Request ireduce_scatter_sum(double* buf, const std::vector<int64_t>& offsets);
  // In place: every rank's [offsets[r], offsets[r+1]) is copied to every rank.
  Request iall_gather(float* buf, const std::vector<int64_t>& offsets);
  Request iall_gather(double* buf, const std::vector<int64_t>& offsets);
  // In place: buf (n elements) becomes the sum over ranks, identical on every rank.
  Request iall_reduce_sum(float* buf, int64_t n);
  Request iall_reduce_sum(double* buf, int64_t n);

  void reduce_scatter_sum(float* buf, const std::vector<int64_t>& offsets) { ireduce_scatter_sum(buf, offsets).wait(); }
  void reduce_scatter_sum(double* buf, const std::vector<int64_t>& offsets) { ireduce_scatter_sum(buf, offsets).wait(); }
  void all_gather(float* buf, const std::vector<int64_t>& offsets) { iall_gather(buf, offsets).wait(); }
  void all_gather(double* buf, const std::vector<int64_t>& offsets) { iall_gather(buf, offsets).wait(); }
  void all_reduce_sum(float* buf, int64_t n) { iall_reduce_sum(buf, n).wait(); }
  void all_reduce_sum(double* buf, int64_t n) { iall_reduce_sum(buf, n).wait(); }
  // Every rank's vector, concatenated in rank order (lengths may differ).
  std::vector<double> all_gather_v(const std::vector<double>& local);
  std::vector<int64_t> all_gather_v(const std::vector<int64_t>& local);
  // Typed all-to-all-v (element counts/offsets) and send/recv.
  template <class T>
  Request iall_to_all_v(const T* send, const std::vector<int64_t>& send_counts, const std::vector<int64_t>& send_offsets,
                        T* recv, const std::vector<int64_t>& recv_counts, const std::vector<int64_t>& recv_offsets) {
    return iall_to_all_v(static_cast<const void*>(send), bytes(send_counts, sizeof(T)), bytes(send_offsets, sizeof(T)),
                         static_cast<void*>(recv), bytes(recv_counts, sizeof(T)), bytes(recv_offsets, sizeof(T)));
  }
  template <class T>
  void send(const T* data, int64_t n, int dest, int tag) { isend(data, n * int64_t(sizeof(T)), dest, tag).wait(); }
  template <class T>
  void recv(T* data, int64_t n, int src, int tag) { irecv(data, n * int64_t(sizeof(T)), src, tag).wait(); }

  // P+1 offsets splitting n elements into P near-equal contiguous shards (the first n % P get one more).
  static std::vector<int64_t> even_offsets(int64_t n, int parts);

 protected:
  static std::vector<int64_t> bytes(const std::vector<int64_t>& elems, size_t elem_size);
  std::string op_name(const char* op) const;  // "rank 1/4 (mpi): all-gather"
  // The implementations' primitives. `op_id` names the operation the same way on every rank: the
  // base class numbers operations in issue order, reserving the ids of a multi-stage collective's
  // later stages when it is issued, so stages started later (from test()/wait(), in whatever
  // order each rank completes them) still pair up across ranks. Implementations match by op_id
  // (MPI: as the tag of point-to-point messages on a private communicator; in-process: the round).
  virtual Request start_all_gather_v(int64_t op_id, const void* send, int64_t send_bytes, void* recv,
                                     const std::vector<int64_t>& counts, const std::vector<int64_t>& offsets) = 0;
  virtual Request start_all_to_all_v(int64_t op_id, const void* send, const std::vector<int64_t>& send_counts,
                                     const std::vector<int64_t>& send_offsets, void* recv,
                                     const std::vector<int64_t>& recv_counts,
                                     const std::vector<int64_t>& recv_offsets) = 0;
  int64_t reserve_op_id() { return next_op_id_++; }
  // A request of this communicator: registered with its progress engine, bounded by its timeout.
  Request make_request(std::shared_ptr<RequestState> s, const std::string& what) {
    return Request(std::move(s), what, timeout_s_, engine_);
  }
  double timeout_s_ = 300;

 private:
  template <class T>
  Request reduce_scatter_impl(T* buf, const std::vector<int64_t>& offsets, const char* what);
  template <class T>
  Request all_gather_impl(T* buf, const std::vector<int64_t>& offsets, const char* what, int64_t op_id = -1);
  template <class T>
  Request all_reduce_impl(T* buf, int64_t n, const char* what);
  template <class T>
  std::vector<T> all_gather_v_impl(const std::vector<T>& local);
  int64_t next_op_id_ = 0;
  std::shared_ptr<ProgressEngine> engine_ = std::make_shared<ProgressEngine>();
};

// Checks that `offsets` has size+1 non-decreasing entries starting at 0; throws kInvalidArgument naming `what`.
void check_offsets(const std::vector<int64_t>& offsets, int size, const char* what);

}  // namespace frugal::dist
