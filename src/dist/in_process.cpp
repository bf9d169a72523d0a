#include "dist/in_process.h"

#include <cstring>
#include <deque>
#include <exception>
#include <thread>

#include "core/error.h"

namespace frugal::dist {

namespace {

enum class Op { kBarrier, kAllGather, kAllToAll };
const char* op_str(Op op) {
  switch (op) {
    case Op::kBarrier: return "barrier";
    case Op::kAllGather: return "all-gather-v";
    case Op::kAllToAll: return "all-to-all-v";
  }
  return "?";
}

struct Post {
  Op op = Op::kBarrier;
  const char* send = nullptr;
  int64_t send_bytes = 0;
  std::vector<int64_t> send_counts, send_offsets;
  char* recv = nullptr;
  std::vector<int64_t> recv_counts, recv_offsets;
};

struct Round {
  std::vector<std::optional<Post>> posts;
  int arrived = 0, copied = 0, completed = 0;
};

}  // namespace

class InProcessHub {
 public:
  explicit InProcessHub(int size) : size_(size) {}
  int size() const { return size_; }

  void post(int64_t seq, int rank, Post p) {
    std::lock_guard<std::mutex> lock(mu_);
    Round& r = rounds_[seq];
    if (r.posts.empty()) r.posts.resize(size_t(size_));
    r.posts[size_t(rank)] = std::move(p);
    ++r.arrived;
  }

  // The progress of `rank` in round `seq`: copies its data once everyone has posted; true when
  // every rank has copied (then the round is done for this rank).
  bool progress(int64_t seq, int rank, bool& copied) {
    std::unique_lock<std::mutex> lock(mu_);
    Round& r = rounds_.at(seq);
    if (r.arrived < size_) return false;
    if (!copied) {
      const std::vector<std::optional<Post>> posts = r.posts;  // immutable now; copy outside the lock
      lock.unlock();
      copy_for(posts, rank, seq);
      lock.lock();
      copied = true;
      ++rounds_.at(seq).copied;
    }
    Round& rr = rounds_.at(seq);
    if (rr.copied < size_) return false;
    if (++rr.completed == size_) rounds_.erase(seq);
    return true;
  }

  void send(int src, int dest, int tag, const void* data, int64_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    const char* p = static_cast<const char*>(data);
    mail_[{src, dest, tag}].emplace_back(p, p + bytes);
  }
  bool try_recv(int src, int dest, int tag, void* data, int64_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = mail_.find({src, dest, tag});
    if (it == mail_.end() || it->second.empty()) return false;
    const std::vector<char>& m = it->second.front();
    if (int64_t(m.size()) != bytes)
      fail(ErrorKind::kInvalidArgument, "rank {}: recv of {} bytes from rank {} (tag {}) got a message of {} bytes",
           dest, bytes, src, tag, m.size());
    std::memcpy(data, m.data(), m.size());
    it->second.pop_front();
    return true;
  }

 private:
  void copy_for(const std::vector<std::optional<Post>>& posts, int rank, int64_t seq) const {
    const Post& me = *posts[size_t(rank)];
    for (int q = 0; q < size_; ++q)
      if (posts[size_t(q)]->op != me.op)
        fail(ErrorKind::kInvalidArgument, "collective #{}: rank {} issued {} while rank {} issued {}", seq, rank,
             op_str(me.op), q, op_str(posts[size_t(q)]->op));
    for (int q = 0; q < size_; ++q) {
      const Post& peer = *posts[size_t(q)];
      if (me.op == Op::kAllGather) {
        if (peer.send_bytes != me.recv_counts[size_t(q)])
          fail(ErrorKind::kInvalidArgument, "all-gather-v: rank {} expects {} bytes from rank {}, which sends {}", rank,
               me.recv_counts[size_t(q)], q, peer.send_bytes);
        char* dst = me.recv + me.recv_offsets[size_t(q)];
        if (dst != peer.send && peer.send_bytes > 0) std::memcpy(dst, peer.send, size_t(peer.send_bytes));
      } else if (me.op == Op::kAllToAll) {
        const int64_t n = peer.send_counts[size_t(rank)];
        if (n != me.recv_counts[size_t(q)])
          fail(ErrorKind::kInvalidArgument, "all-to-all-v: rank {} expects {} bytes from rank {}, which sends {}", rank,
               me.recv_counts[size_t(q)], q, n);
        if (n > 0) std::memcpy(me.recv + me.recv_offsets[size_t(q)], peer.send + peer.send_offsets[size_t(rank)], size_t(n));
      }
    }
  }

  int size_;
  std::mutex mu_;
  std::map<int64_t, Round> rounds_;
  std::map<std::tuple<int, int, int>, std::deque<std::vector<char>>> mail_;
};

namespace {

class RoundState : public RequestState {
 public:
  RoundState(std::shared_ptr<InProcessHub> hub, int64_t seq, int rank) : hub_(std::move(hub)), seq_(seq), rank_(rank) {}
  bool test() override {
    if (!done_) done_ = hub_->progress(seq_, rank_, copied_);
    return done_;
  }

 private:
  std::shared_ptr<InProcessHub> hub_;
  int64_t seq_;
  int rank_;
  bool copied_ = false, done_ = false;
};

class RecvState : public RequestState {
 public:
  RecvState(std::shared_ptr<InProcessHub> hub, int src, int dest, int tag, void* data, int64_t bytes)
      : hub_(std::move(hub)), src_(src), dest_(dest), tag_(tag), data_(data), bytes_(bytes) {}
  bool test() override {
    if (!done_) done_ = hub_->try_recv(src_, dest_, tag_, data_, bytes_);
    return done_;
  }

 private:
  std::shared_ptr<InProcessHub> hub_;
  int src_, dest_, tag_;
  void* data_;
  int64_t bytes_;
  bool done_ = false;
};

void check_peer(int peer, int size, const char* what) {
  if (peer < 0 || peer >= size) fail(ErrorKind::kInvalidArgument, "{}: rank {} is outside [0, {})", what, peer, size);
}

}  // namespace

InProcessCommunicator::InProcessCommunicator(std::shared_ptr<InProcessHub> hub, int rank)
    : hub_(std::move(hub)), rank_(rank) {}

int InProcessCommunicator::size() const { return hub_->size(); }

Request InProcessCommunicator::start_all_gather_v(int64_t seq, const void* send, int64_t send_bytes, void* recv,
                                                  const std::vector<int64_t>& counts,
                                                  const std::vector<int64_t>& offsets) {
  Post p;
  p.op = Op::kAllGather;
  p.send = static_cast<const char*>(send);
  p.send_bytes = send_bytes;
  p.recv = static_cast<char*>(recv);
  p.recv_counts = counts;
  p.recv_offsets = offsets;
  hub_->post(seq, rank_, std::move(p));
  return make_request(std::make_shared<RoundState>(hub_, seq, rank_), op_name("all-gather-v"));
}

Request InProcessCommunicator::start_all_to_all_v(int64_t seq, const void* send,
                                                  const std::vector<int64_t>& send_counts,
                                                  const std::vector<int64_t>& send_offsets, void* recv,
                                                  const std::vector<int64_t>& recv_counts,
                                                  const std::vector<int64_t>& recv_offsets) {
  Post p;
  p.op = Op::kAllToAll;
  p.send = static_cast<const char*>(send);
  p.send_counts = send_counts;
  p.send_offsets = send_offsets;
  p.recv = static_cast<char*>(recv);
  p.recv_counts = recv_counts;
  p.recv_offsets = recv_offsets;
  hub_->post(seq, rank_, std::move(p));
  return make_request(std::make_shared<RoundState>(hub_, seq, rank_), op_name("all-to-all-v"));
}

Request InProcessCommunicator::isend(const void* data, int64_t bytes, int dest, int tag) {
  check_peer(dest, size(), "send");
  hub_->send(rank_, dest, tag, data, bytes);
  return Request();
}

Request InProcessCommunicator::irecv(void* data, int64_t bytes, int src, int tag) {
  check_peer(src, size(), "recv");
  return make_request(std::make_shared<RecvState>(hub_, src, rank_, tag, data, bytes),
                      op_name(fmt::format("recv from rank {} tag {}", src, tag).c_str()));
}

void InProcessCommunicator::barrier() {
  const int64_t seq = reserve_op_id();
  hub_->post(seq, rank_, Post{});
  make_request(std::make_shared<RoundState>(hub_, seq, rank_), op_name("barrier")).wait();
}

void InProcessCommunicator::abort(int code) { fail(ErrorKind::kIo, "rank {} aborted the job (code {})", rank_, code); }

void run_in_process(int size, const std::function<void(Communicator&)>& fn, double timeout_s) {
  if (size < 1) fail(ErrorKind::kInvalidArgument, "run_in_process: {} ranks", size);
  auto hub = std::make_shared<InProcessHub>(size);
  std::vector<std::exception_ptr> errors(static_cast<size_t>(size));
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r)
    threads.emplace_back([&, r] {
      try {
        InProcessCommunicator comm(hub, r);
        comm.set_timeout_s(timeout_s);
        fn(comm);
      } catch (...) {
        errors[size_t(r)] = std::current_exception();
      }
    });
  for (std::thread& t : threads) t.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace frugal::dist
