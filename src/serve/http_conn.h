// One client connection and the byte stream cpp-httplib reads a request from and writes its answer
// to (docs/serving.md, Resource model).
//
// The front door (http_front.h) reads each request head into Conn::buf itself, without a thread;
// a worker then hands the connection to cpp-httplib as a ConnStream, which serves the buffered
// bytes first and then the socket, and enforces the deadlines cpp-httplib's own stream lacks: the
// body must arrive by read_deadline, and writing stops at write_deadline or after write_stall
// seconds without progress. cpp-httplib 0.11's SocketStream only has a per-recv timeout, so a
// client sending one byte every few seconds could hold a worker forever.
#pragma once
#include <chrono>
#include <string>

#include "serve/http_head.h"
#include "serve/http_lib.h"

namespace frugal::serve {

using SteadyClock = std::chrono::steady_clock;

struct Conn {
  int fd = -1;
  std::string remote_addr, local_addr;
  int remote_port = 0, local_port = 0;
  std::string buf;      // bytes read from the socket and not yet consumed (a head, maybe more)
  size_t scanned = 0;   // buf[0, scanned) holds no complete head terminator
  RequestHead head;     // the request a worker is serving
  bool head_ok = false;  // `head` parsed (else cpp-httplib answers 400 and the connection closes)
  int requests = 0;     // served on this connection so far
  // What the front door waits for: the first byte of a request (kIdle), the rest of its head
  // (kHead), or the client's end after an answer that left its body unread (kLinger).
  enum class State { kIdle, kHead, kLinger } state = State::kHead;
  SteadyClock::time_point deadline;
  size_t discarded = 0;  // kLinger: bytes thrown away
};

// What a handler running on a worker may know about its connection (thread-local while a worker
// serves it; null on any other thread).
struct ConnContext {
  Conn* conn = nullptr;
  bool body_read = false;  // the request's body was read to its end (a JSON route's bounded reader)
  // The body was not read to its end: the connection closes after the answer.
  bool must_close() const { return conn && conn->head.has_body() && !body_read; }
};
ConnContext* current_conn();

class ConnStream : public httplib::Stream {
 public:
  struct Limits {
    SteadyClock::time_point read_deadline, write_deadline;
    double write_stall_seconds = 30;
  };
  ConnStream(Conn& c, Limits lim);
  ~ConnStream() override;  // drops the bytes cpp-httplib consumed from Conn::buf

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return c_.fd; }

  bool failed() const { return read_failed_ || write_failed_; }  // a deadline passed or the socket failed

 private:
  // Waits for `events` until `deadline`; false on timeout or error.
  bool wait(short events, SteadyClock::time_point deadline) const;

  Conn& c_;
  Limits lim_;
  size_t rpos_ = 0;  // Conn::buf[0, rpos_) was read
  bool read_failed_ = false, write_failed_ = false;  // a read failing still lets the 400 out
};

// True when the peer has closed or reset the connection, or it was shut down (POLLRDHUP / POLLHUP /
// POLLERR). Never blocks. A non-streaming request writes nothing until its end, so this poll is how
// its handler notices a client that went away.
bool peer_closed(int fd);

// Installs `ctx` as the calling thread's current connection for the lifetime of the guard.
class ConnScope {
 public:
  explicit ConnScope(ConnContext& ctx);
  ~ConnScope();
  ConnScope(const ConnScope&) = delete;
  ConnScope& operator=(const ConnScope&) = delete;
};

}  // namespace frugal::serve
