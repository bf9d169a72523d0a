#include "dist/mpi_communicator.h"

#include <climits>
#include <cstdlib>
#include <cstring>

#include <mpi.h>

#include "core/error.h"

namespace frugal::dist {

namespace {

// MPI counts are int: byte counts above 2 GiB per message are refused, not truncated.
std::vector<int> to_int(const std::vector<int64_t>& v, const char* what) {
  std::vector<int> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] < 0 || v[i] > INT_MAX)
      fail(ErrorKind::kInvalidArgument, "{}: {} bytes at rank {} does not fit an MPI count", what, v[i], i);
    out[i] = int(v[i]);
  }
  return out;
}

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  fail(ErrorKind::kIo, "MPI {}: {}", what, std::string(msg, size_t(len)));
}

// A set of MPI requests (the messages of one primitive, or one send/recv/barrier); complete when
// all are.
class MpiState : public RequestState {
 public:
  std::vector<MPI_Request> reqs;
  bool test() override {
    if (done_) return true;
    int flag = 0;
    check_mpi(MPI_Testall(int(reqs.size()), reqs.data(), &flag, MPI_STATUSES_IGNORE), "test");
    done_ = flag != 0;
    return done_;
  }

 private:
  bool done_ = false;
};

MPI_Comm& as_comm(void* p) { return *static_cast<MPI_Comm*>(p); }

}  // namespace

MpiCommunicator::MpiCommunicator() {
  int init = 0;
  MPI_Initialized(&init);
  if (!init) {
    int provided = 0;
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "init");
    finalize_ = true;
  }
  // Errors come back as codes (turned into frugal::Error) instead of aborting inside MPI.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  int* ub = nullptr;
  int found = 0;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &ub, &found);
  if (found && ub && *ub > 0) tag_limit_ = int64_t(*ub) + 1;
  auto* comm = new MPI_Comm;
  check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, comm), "comm dup");
  MPI_Comm_set_errhandler(*comm, MPI_ERRORS_RETURN);
  coll_comm_ = comm;
}

MpiCommunicator::~MpiCommunicator() {
  MPI_Comm_free(&as_comm(coll_comm_));
  delete static_cast<MPI_Comm*>(coll_comm_);
  if (finalize_) MPI_Finalize();
}

bool MpiCommunicator::launched_by_mpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr ||
         std::getenv("PMIX_RANK") != nullptr;
}

Request MpiCommunicator::start_all_gather_v(int64_t op_id, const void* send, int64_t send_bytes, void* recv,
                                            const std::vector<int64_t>& counts, const std::vector<int64_t>& offsets) {
  const std::vector<int> n = to_int(counts, "all-gather-v");
  const int sb = to_int({send_bytes}, "all-gather-v")[0];
  if (sb != n[size_t(rank_)])
    fail(ErrorKind::kInvalidArgument, "all-gather-v: rank {} sends {} bytes but its count is {}", rank_, sb,
         n[size_t(rank_)]);
  auto s = std::make_shared<MpiState>();
  char* out = static_cast<char*>(recv);
  const int tag = tag_of(op_id);
  for (int q = 0; q < size_; ++q) {
    if (q == rank_) continue;
    s->reqs.emplace_back();
    check_mpi(MPI_Irecv(out + offsets[size_t(q)], n[size_t(q)], MPI_BYTE, q, tag, as_comm(coll_comm_), &s->reqs.back()),
              "all-gather-v recv");
    s->reqs.emplace_back();
    check_mpi(MPI_Isend(send, sb, MPI_BYTE, q, tag, as_comm(coll_comm_), &s->reqs.back()), "all-gather-v send");
  }
  char* own = out + offsets[size_t(rank_)];
  if (own != send && sb > 0) std::memmove(own, send, size_t(sb));
  return make_request(s, op_name("all-gather-v"));
}

Request MpiCommunicator::start_all_to_all_v(int64_t op_id, const void* send, const std::vector<int64_t>& send_counts,
                                            const std::vector<int64_t>& send_offsets, void* recv,
                                            const std::vector<int64_t>& recv_counts,
                                            const std::vector<int64_t>& recv_offsets) {
  const std::vector<int> sc = to_int(send_counts, "all-to-all-v"), rc = to_int(recv_counts, "all-to-all-v");
  if (sc[size_t(rank_)] != rc[size_t(rank_)])
    fail(ErrorKind::kInvalidArgument, "all-to-all-v: rank {} sends itself {} bytes but expects {}", rank_,
         sc[size_t(rank_)], rc[size_t(rank_)]);
  auto s = std::make_shared<MpiState>();
  const char* in = static_cast<const char*>(send);
  char* out = static_cast<char*>(recv);
  const int tag = tag_of(op_id);
  for (int q = 0; q < size_; ++q) {
    if (q == rank_) continue;
    s->reqs.emplace_back();
    check_mpi(MPI_Irecv(out + recv_offsets[size_t(q)], rc[size_t(q)], MPI_BYTE, q, tag, as_comm(coll_comm_),
                        &s->reqs.back()),
              "all-to-all-v recv");
    s->reqs.emplace_back();
    check_mpi(MPI_Isend(in + send_offsets[size_t(q)], sc[size_t(q)], MPI_BYTE, q, tag, as_comm(coll_comm_),
                        &s->reqs.back()),
              "all-to-all-v send");
  }
  if (sc[size_t(rank_)] > 0)
    std::memcpy(out + recv_offsets[size_t(rank_)], in + send_offsets[size_t(rank_)], size_t(sc[size_t(rank_)]));
  return make_request(s, op_name("all-to-all-v"));
}

Request MpiCommunicator::isend(const void* data, int64_t bytes, int dest, int tag) {
  auto s = std::make_shared<MpiState>();
  const std::vector<int> n = to_int({bytes}, "send");
  s->reqs.emplace_back();
  check_mpi(MPI_Isend(data, n[0], MPI_BYTE, dest, tag, MPI_COMM_WORLD, &s->reqs.back()), "send");
  return make_request(s, op_name(fmt::format("send to rank {} tag {}", dest, tag).c_str()));
}

Request MpiCommunicator::irecv(void* data, int64_t bytes, int src, int tag) {
  auto s = std::make_shared<MpiState>();
  const std::vector<int> n = to_int({bytes}, "recv");
  s->reqs.emplace_back();
  check_mpi(MPI_Irecv(data, n[0], MPI_BYTE, src, tag, MPI_COMM_WORLD, &s->reqs.back()), "recv");
  return make_request(s, op_name(fmt::format("recv from rank {} tag {}", src, tag).c_str()));
}

void MpiCommunicator::barrier() {
  auto s = std::make_shared<MpiState>();
  s->reqs.emplace_back();
  check_mpi(MPI_Ibarrier(MPI_COMM_WORLD, &s->reqs.back()), "barrier");
  make_request(s, op_name("barrier")).wait();
}

void MpiCommunicator::abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace frugal::dist
