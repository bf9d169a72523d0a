// A raw TCP client for the server tests that need bytes no HTTP library sends: dripped heads,
// chunked or compressed bodies of any size, idle connections, pipelined requests.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <atomic>
#include <string>
#include <thread>

#include <malloc.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/allocator_interface.h>
#endif

namespace frugal::test {

class RawConn {
 public:
  explicit RawConn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) close();
  }
  ~RawConn() { close(); }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  bool ok() const { return fd_ >= 0; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Sends everything it can; false once the server stopped taking bytes (closed or reset).
  bool send(const std::string& data) {
    size_t off = 0;
    while (fd_ >= 0 && off < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += size_t(n);
    }
    return fd_ >= 0;
  }
  // Reads what arrives within `timeout_s` until the peer closes or `enough(text)` holds.
  template <class Pred>
  std::string read_until(double timeout_s, Pred enough) {
    std::string out;
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (fd_ >= 0 && !enough(out)) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count();
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, int(left)) <= 0) break;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, size_t(n));
    }
    return out;
  }
  // One whole response (head and Content-Length body), or what came before `timeout_s`.
  std::string read_response(double timeout_s = 5) {
    return read_until(timeout_s, [](const std::string& s) {
      const size_t end = s.find("\r\n\r\n");
      if (end == std::string::npos) return false;
      const size_t cl = s.find("Content-Length: ");
      if (cl == std::string::npos || cl > end) return true;
      return s.size() >= end + 4 + std::strtoull(s.c_str() + cl + 16, nullptr, 10);
    });
  }
  // True when the server closed the connection within `timeout_s` (EOF or reset).
  bool closed_by_peer(double timeout_s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, int(timeout_s * 1000)) <= 0) return false;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    }
  }

 private:
  int fd_ = -1;
};

// "HTTP/1.1 413 ..." -> 413 (0 when there is no status line).
inline int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
  return std::atoi(response.c_str() + 9);
}

// The most heap this process had in use while it lived, above what it had in use at its start,
// sampled every half millisecond by a thread of its own. Heap bytes in use, not resident memory:
// RSS also moves with malloc arenas, transparent huge pages and what other threads touch, which
// made an RSS bound flaky on a loaded 2-core machine while the server buffered nothing.
class HeapPeak {
 public:
  HeapPeak() : start_(in_use()), peak_(start_) {
    sampler_ = std::thread([this] {
      while (!stop_.load()) {
        const int64_t now = in_use();
        if (now > peak_.load()) peak_.store(now);
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
    });
  }
  ~HeapPeak() { stop(); }
  HeapPeak(const HeapPeak&) = delete;
  HeapPeak& operator=(const HeapPeak&) = delete;

  // Stops sampling; the peak growth in KiB.
  int64_t growth_kib() {
    stop();
    return (peak_.load() - start_) >> 10;
  }

  static int64_t in_use() {
#if defined(__SANITIZE_ADDRESS__)
    return int64_t(__sanitizer_get_current_allocated_bytes());  // ASan's allocator replaces glibc's
#else
    const struct mallinfo2 m = ::mallinfo2();
    return int64_t(m.uordblks + m.hblkhd);  // arena chunks in use + mmap'd chunks
#endif
  }

 private:
  void stop() {
    stop_.store(true);
    if (sampler_.joinable()) sampler_.join();
  }
  const int64_t start_;
  std::atomic<int64_t> peak_;
  std::atomic<bool> stop_{false};
  std::thread sampler_;
};

}  // namespace frugal::test
