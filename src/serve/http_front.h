// The front door: accepts connections, reads each request head without holding a thread, answers
// the probes (/health, /ready) itself, and hands every other request to a fixed pool of workers
// that run cpp-httplib's request processing on it (docs/serving.md, Resource model).
//
// Why not cpp-httplib's own loop: it gives each connection a pool thread from accept to close, with
// only a per-recv timeout, so a few clients dripping one header byte every few seconds hold every
// thread and even /health stops answering; it has no connection cap (its queue of accepted
// sockets is unbounded) and no deadline for a whole request. Here:
//   - at most max_connections connections are open; beyond that a new one gets an immediate 503
//     (Connection: close) and is closed, or is closed unanswered past twice the cap;
//   - a request head must be complete within header_timeout of the connect (or, on a kept-alive
//     connection, of its first byte), else 408 (a connection that sent nothing is just closed); a
//     kept-alive connection may idle idle_timeout between requests; heads over max_head_bytes get 431;
//   - /health and /ready are answered on this thread, so they answer while every worker is busy;
//   - a worker's request must deliver its body within body_timeout, and all of its writing ends
//     by request_seconds (a write stalled for write_stall seconds ends it sooner);
//   - an answer sent without reading the request body (413, 415, ...) closes the connection after
//     a short lingering read, so the client sees the answer rather than a reset.
// stop() closes the listener and every connection and joins all threads; a worker blocked on a
// slow client returns at once because its socket is shut down under it.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "serve/http_conn.h"

namespace frugal::serve {

struct FrontOptions {
  int64_t max_connections = 256;
  int workers = 16;
  double header_timeout = 10;
  double idle_timeout = 5;
  double body_timeout = 30;
  double write_stall = 30;
  double request_seconds = 660;
  double linger_seconds = 2;
  int keep_alive_max = 100;  // requests per connection
  size_t max_head_bytes = 32 << 10;
};

// A complete answer the front door writes itself.
struct FastReply {
  int status = 200;
  std::string content_type = "application/json", body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct FrontHooks {
  // The answer to a request the front door may give itself (a probe), or nullopt: a worker's job.
  std::function<std::optional<FastReply>(const RequestHead&)> fast;
  // Serves one request on a worker: cpp-httplib's process_request. `close`: answer with
  // Connection: close; `closed` is set when the client asked for it.
  std::function<bool(httplib::Stream&, bool close, bool& closed)> serve;
  // A connection refused by the front door ("too_many_connections", "header_timeout", "head_too_large").
  std::function<void(const char* reason)> rejected;
  // The server is draining: answer and close instead of keeping connections alive.
  std::function<bool()> closing;
};

class FrontDoor {
 public:
  // `listen_fd` stays owned by the caller (cpp-httplib); it is made non-blocking.
  FrontDoor(int listen_fd, FrontOptions opt, FrontHooks hooks);
  ~FrontDoor();
  FrontDoor(const FrontDoor&) = delete;
  FrontDoor& operator=(const FrontDoor&) = delete;

  void start();
  void stop();  // idempotent
  int64_t open_connections() const { return open_; }

 private:
  enum class Next { kKeep, kClose, kDispatch };
  void front_loop();
  void worker_loop();
  void accept_all(SteadyClock::time_point now);
  Next on_readable(Conn& c, SteadyClock::time_point now);
  Next on_timeout(Conn& c);
  Next advance(Conn& c, SteadyClock::time_point now);
  void hand_off(std::vector<std::unique_ptr<Conn>>& heads);  // to the workers
  void serve(std::unique_ptr<Conn> c);
  void close_conn(Conn& c);
  void wake();

  const int listen_fd_;
  const FrontOptions opt_;
  const FrontHooks hooks_;
  int wake_fd_ = -1;
  std::atomic<int64_t> open_{0};
  std::thread front_;
  std::vector<std::thread> workers_;
  SteadyClock::time_point accept_paused_until_{};

  std::vector<std::unique_ptr<Conn>> conns_;  // front thread only

  std::mutex mu_;  // guards the rest
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Conn>> ready_;   // heads complete, waiting for a worker
  std::vector<std::unique_ptr<Conn>> inbox_;  // back from workers: kept alive or lingering
  std::set<int> busy_fds_;                    // held by workers (shut down by stop())
  bool stopping_ = false, started_ = false, stopped_ = false;
};

// "HTTP/1.1 <status> <reason>" and the fields, for the answers the front door writes itself.
std::string render_reply(const FastReply& r, bool keep_alive, bool head_only);

}  // namespace frugal::serve
