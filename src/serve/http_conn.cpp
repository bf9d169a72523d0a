#include "serve/http_conn.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace frugal::serve {

namespace {

thread_local ConnContext* t_conn = nullptr;

}  // namespace

ConnContext* current_conn() { return t_conn; }

ConnScope::ConnScope(ConnContext& ctx) { t_conn = &ctx; }
ConnScope::~ConnScope() { t_conn = nullptr; }

bool peer_closed(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

ConnStream::ConnStream(Conn& c, Limits lim) : c_(c), lim_(lim) {}

ConnStream::~ConnStream() { c_.buf.erase(0, rpos_); }

bool ConnStream::wait(short events, SteadyClock::time_point deadline) const {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
    if (left <= 0) return false;
    pollfd p{c_.fd, events, 0};
    const int r = ::poll(&p, 1, int(std::min<int64_t>(left, 1000)));
    if (r > 0) return true;  // ready, or an error the next recv/send reports
    if (r < 0 && errno != EINTR) return false;
  }
}

bool ConnStream::is_readable() const {
  return rpos_ < c_.buf.size() || wait(POLLIN, std::min(lim_.read_deadline, SteadyClock::now() + std::chrono::seconds(1)));
}

bool ConnStream::is_writable() const {
  if (write_failed_) return false;
  return wait(POLLOUT, std::min(lim_.write_deadline,
                                SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                                         std::chrono::duration<double>(lim_.write_stall_seconds))));
}

ssize_t ConnStream::read(char* ptr, size_t size) {
  if (rpos_ < c_.buf.size()) {  // the head (and whatever came with it) first
    const size_t n = std::min(size, c_.buf.size() - rpos_);
    std::memcpy(ptr, c_.buf.data() + rpos_, n);
    rpos_ += n;
    return ssize_t(n);
  }
  for (;;) {
    const ssize_t n = ::recv(c_.fd, ptr, size, MSG_DONTWAIT);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if ((errno != EAGAIN && errno != EWOULDBLOCK) || !wait(POLLIN, lim_.read_deadline)) {
      read_failed_ = true;
      return -1;
    }
  }
}

ssize_t ConnStream::write(const char* ptr, size_t size) {
  if (write_failed_) return -1;
  for (;;) {
    const ssize_t n = ::send(c_.fd, ptr, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    const auto stall = SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                                std::chrono::duration<double>(lim_.write_stall_seconds));
    if ((errno != EAGAIN && errno != EWOULDBLOCK) || !wait(POLLOUT, std::min(stall, lim_.write_deadline))) {
      write_failed_ = true;
      return -1;
    }
  }
}

void ConnStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  ip = c_.remote_addr;
  port = c_.remote_port;
}

void ConnStream::get_local_ip_and_port(std::string& ip, int& port) const {
  ip = c_.local_addr;
  port = c_.local_port;
}

}  // namespace frugal::serve
