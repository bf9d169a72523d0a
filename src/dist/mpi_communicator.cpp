#include "dist/mpi_communicator.h"

#include <climits>
#include <cstdlib>

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

// One MPI request; the count/displacement arrays of the non-blocking collectives must stay alive
// until it completes (MPI reads them during progress), so they live here.
class MpiState : public RequestState {
 public:
  MPI_Request req = MPI_REQUEST_NULL;
  std::vector<int> a, b, c, d;
  bool test() override {
    if (done_) return true;
    int flag = 0;
    check_mpi(MPI_Test(&req, &flag, MPI_STATUS_IGNORE), "test");
    done_ = flag != 0;
    return done_;
  }

 private:
  bool done_ = false;
};

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
}

MpiCommunicator::~MpiCommunicator() {
  if (finalize_) MPI_Finalize();
}

bool MpiCommunicator::launched_by_mpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr ||
         std::getenv("PMIX_RANK") != nullptr;
}

Request MpiCommunicator::iall_gather_v(const void* send, int64_t send_bytes, void* recv,
                                       const std::vector<int64_t>& counts, const std::vector<int64_t>& offsets) {
  auto s = std::make_shared<MpiState>();
  s->a = to_int(counts, "all-gather-v");
  s->b = to_int(offsets, "all-gather-v");
  // In place when this rank's part already sits at its offset of the receive buffer.
  const bool in_place = static_cast<const char*>(recv) + offsets[size_t(rank_)] == static_cast<const char*>(send);
  check_mpi(MPI_Iallgatherv(in_place ? MPI_IN_PLACE : send, int(send_bytes), MPI_BYTE, recv, s->a.data(), s->b.data(),
                            MPI_BYTE, MPI_COMM_WORLD, &s->req),
            "all-gather-v");
  return Request(s, op_name("all-gather-v"), timeout_s_);
}

Request MpiCommunicator::iall_to_all_v(const void* send, const std::vector<int64_t>& send_counts,
                                       const std::vector<int64_t>& send_offsets, void* recv,
                                       const std::vector<int64_t>& recv_counts,
                                       const std::vector<int64_t>& recv_offsets) {
  auto s = std::make_shared<MpiState>();
  s->a = to_int(send_counts, "all-to-all-v");
  s->b = to_int(send_offsets, "all-to-all-v");
  s->c = to_int(recv_counts, "all-to-all-v");
  s->d = to_int(recv_offsets, "all-to-all-v");
  check_mpi(MPI_Ialltoallv(send, s->a.data(), s->b.data(), MPI_BYTE, recv, s->c.data(), s->d.data(), MPI_BYTE,
                           MPI_COMM_WORLD, &s->req),
            "all-to-all-v");
  return Request(s, op_name("all-to-all-v"), timeout_s_);
}

Request MpiCommunicator::isend(const void* data, int64_t bytes, int dest, int tag) {
  auto s = std::make_shared<MpiState>();
  const std::vector<int> n = to_int({bytes}, "send");
  check_mpi(MPI_Isend(data, n[0], MPI_BYTE, dest, tag, MPI_COMM_WORLD, &s->req), "send");
  return Request(s, op_name(fmt::format("send to rank {} tag {}", dest, tag).c_str()), timeout_s_);
}

Request MpiCommunicator::irecv(void* data, int64_t bytes, int src, int tag) {
  auto s = std::make_shared<MpiState>();
  const std::vector<int> n = to_int({bytes}, "recv");
  check_mpi(MPI_Irecv(data, n[0], MPI_BYTE, src, tag, MPI_COMM_WORLD, &s->req), "recv");
  return Request(s, op_name(fmt::format("recv from rank {} tag {}", src, tag).c_str()), timeout_s_);
}

void MpiCommunicator::barrier() {
  auto s = std::make_shared<MpiState>();
  check_mpi(MPI_Ibarrier(MPI_COMM_WORLD, &s->req), "barrier");
  Request(s, op_name("barrier"), timeout_s_).wait();
}

void MpiCommunicator::abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace frugal::dist
