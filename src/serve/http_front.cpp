#include "serve/http_front.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

namespace frugal::serve {

namespace {

SteadyClock::duration seconds(double s) {
  return std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(s));
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 408: return "Request Timeout";
    case 421: return "Misdirected Request";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

// "127.0.0.1" / "::1" and the port of a socket address.
void address_of(const sockaddr_storage& ss, std::string& addr, int& port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    port = ntohs(a->sin6_port);
  }
  addr = buf;
}

FastReply error_reply(int status, const std::string& message, const std::string& code) {
  FastReply r;
  r.status = status;
  r.body = fmt::format(R"({{"error":{{"message":"{}","type":"{}","param":null,"code":"{}"}}}})", message,
                       status >= 500 ? "unavailable_error" : "invalid_request_error", code);
  if (status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

// Writes a whole small answer without blocking; false when it did not fit at once (the client
// stopped reading): then the connection is dropped.
bool send_now(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

}  // namespace

std::string render_reply(const FastReply& r, bool keep_alive, bool head_only) {
  std::string out = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n", r.status,
                                reason_phrase(r.status), r.content_type, r.body.size());
  for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  if (!head_only) out += r.body;
  return out;
}

FrontDoor::FrontDoor(int listen_fd, FrontOptions opt, FrontHooks hooks)
    : listen_fd_(listen_fd), opt_(std::move(opt)), hooks_(std::move(hooks)) {
  ::fcntl(listen_fd_, F_SETFL, ::fcntl(listen_fd_, F_GETFL) | O_NONBLOCK);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

FrontDoor::~FrontDoor() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void FrontDoor::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return;
  started_ = true;
  front_ = std::thread([this] { front_loop(); });
  for (int i = 0; i < std::max(1, opt_.workers); ++i) workers_.emplace_back([this] { worker_loop(); });
}

void FrontDoor::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void FrontDoor::stop() {
  std::deque<std::unique_ptr<Conn>> queued;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = stopping_ = true;
    // Workers blocked on a slow client, or waiting for a generation, see their socket fail now.
    for (int fd : busy_fds_) ::shutdown(fd, SHUT_RDWR);
    queued.swap(ready_);
  }
  for (auto& c : queued) close_conn(*c);
  cv_.notify_all();
  wake();
  if (front_.joinable()) front_.join();
  for (auto& t : workers_) t.join();
  workers_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& c : inbox_) close_conn(*c);
  inbox_.clear();
}

void FrontDoor::close_conn(Conn& c) {
  if (c.fd < 0) return;
  ::close(c.fd);
  c.fd = -1;
  --open_;
}

void FrontDoor::accept_all(SteadyClock::time_point now) {
  for (int i = 0; i < 256; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        accept_paused_until_ = now + std::chrono::milliseconds(100);  // out of descriptors: breathe
      return;
    }
    ++open_;
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    // cpp-httplib's request processing refuses descriptors that select() cannot watch.
    if (open_ > opt_.max_connections || fd >= FD_SETSIZE) {
      if (hooks_.rejected) hooks_.rejected("too_many_connections");
      if (open_ > 2 * opt_.max_connections || fd >= FD_SETSIZE) {
        close_conn(*c);  // refused: not even an answer
        continue;
      }
      send_now(fd, render_reply(error_reply(503, "the server has too many open connections (--max-connections); "
                                                 "retry later", "too_many_connections"),
                                false, false));
      ::shutdown(fd, SHUT_WR);
      c->state = Conn::State::kLinger;
      c->deadline = now + seconds(std::min(1.0, opt_.linger_seconds));
      conns_.push_back(std::move(c));
      continue;
    }
    const int yes = 1;  // SSE chunks are small and must not wait for the previous one's ACK
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    sockaddr_storage local{};
    socklen_t ll = sizeof local;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll);
    address_of(peer, c->remote_addr, c->remote_port);
    address_of(local, c->local_addr, c->local_port);
    c->state = Conn::State::kHead;
    c->deadline = now + seconds(opt_.header_timeout);
    conns_.push_back(std::move(c));
  }
}

FrontDoor::Next FrontDoor::advance(Conn& c, SteadyClock::time_point now) {
  while (!c.buf.empty()) {
    if (c.state == Conn::State::kIdle) {  // the first byte of the next request: its head's clock starts
      c.state = Conn::State::kHead;
      c.deadline = now + seconds(opt_.header_timeout);
    }
    const size_t end = find_head_end(c.buf, c.scanned);
    if (end == std::string::npos) {
      c.scanned = c.buf.size();
      if (c.buf.size() < opt_.max_head_bytes) return Next::kKeep;
      if (hooks_.rejected) hooks_.rejected("head_too_large");
      send_now(c.fd, render_reply(error_reply(431, fmt::format("the request head is larger than {} bytes",
                                                               opt_.max_head_bytes),
                                              "head_too_large"),
                                  false, false));
      return Next::kClose;
    }
    c.scanned = 0;
    RequestHead h;
    const bool parsed = parse_head(std::string_view(c.buf).substr(0, end), h);
    std::optional<FastReply> fast;
    if (parsed && !h.has_body() && hooks_.fast) fast = hooks_.fast(h);
    if (!fast) {
      c.head = parsed ? std::move(h) : RequestHead{};
      c.head.size = end;
      c.head_ok = parsed;
      return Next::kDispatch;
    }
    c.buf.erase(0, end);
    const bool keep = h.keep_alive() && !(hooks_.closing && hooks_.closing()) && ++c.requests < opt_.keep_alive_max;
    if (!send_now(c.fd, render_reply(*fast, keep, h.method == "HEAD")) || !keep) return Next::kClose;
    c.state = Conn::State::kIdle;
    c.deadline = now + seconds(opt_.idle_timeout);
  }
  return Next::kKeep;
}

FrontDoor::Next FrontDoor::on_readable(Conn& c, SteadyClock::time_point now) {
  char tmp[16384];
  if (c.state == Conn::State::kLinger) {  // read and drop what the client still sends
    for (int i = 0; i < 16; ++i) {
      const ssize_t n = ::recv(c.fd, tmp, sizeof tmp, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Next::kKeep;
      if (n <= 0) return Next::kClose;
      c.discarded += size_t(n);
      if (c.discarded > (64u << 20)) return Next::kClose;
    }
    return Next::kKeep;
  }
  const size_t room = opt_.max_head_bytes - std::min(opt_.max_head_bytes, c.buf.size());
  const ssize_t n = ::recv(c.fd, tmp, std::min(room, sizeof tmp), MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return Next::kKeep;
  if (n <= 0) return Next::kClose;  // the client left (or an error)
  c.buf.append(tmp, size_t(n));
  return advance(c, now);
}

FrontDoor::Next FrontDoor::on_timeout(Conn& c) {
  // A connection that never sent a byte (a browser's speculative preconnect) is closed quietly.
  if (c.state == Conn::State::kHead && !c.buf.empty()) {
    if (hooks_.rejected) hooks_.rejected("header_timeout");
    send_now(c.fd, render_reply(error_reply(408, fmt::format("the request head did not arrive within {} s "
                                                             "(--header-timeout)", opt_.header_timeout),
                                            "header_timeout"),
                                false, false));
  }
  return Next::kClose;  // an idle kept-alive connection, or lingering over
}

void FrontDoor::hand_off(std::vector<std::unique_ptr<Conn>>& heads) {
  if (heads.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& c : heads) ready_.push_back(std::move(c));
  }
  heads.clear();
  cv_.notify_all();
}

void FrontDoor::front_loop() {
  std::vector<pollfd> pfds;
  for (;;) {
    const auto now = SteadyClock::now();
    std::vector<std::unique_ptr<Conn>> back, dispatch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
      back.swap(inbox_);
    }
    for (auto& c : back) {  // a pipelined request may already be buffered: no new bytes will announce it
      const Next what = advance(*c, now);
      if (what == Next::kClose) close_conn(*c);
      else if (what == Next::kDispatch) dispatch.push_back(std::move(c));
      else conns_.push_back(std::move(c));
    }
    hand_off(dispatch);
    // Poll every waiting connection; wake for the nearest deadline.
    pfds.clear();
    const bool paused = now < accept_paused_until_;
    pfds.push_back({paused ? -1 : listen_fd_, POLLIN, 0});
    pfds.push_back({wake_fd_, POLLIN, 0});
    auto next = now + std::chrono::seconds(1);
    if (paused) next = std::min(next, accept_paused_until_);
    for (auto& c : conns_) {
      pfds.push_back({c->fd, short(POLLIN | POLLRDHUP), 0});
      next = std::min(next, c->deadline);
    }
    const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
    const int r = ::poll(pfds.data(), pfds.size(), int(std::max<int64_t>(0, wait_ms)));
    if (r < 0 && errno != EINTR) break;
    if (pfds[1].revents) {
      uint64_t v;
      [[maybe_unused]] ssize_t n = ::read(wake_fd_, &v, sizeof v);
    }
    const auto t = SteadyClock::now();
    const size_t polled = pfds.size() - 2;
    std::vector<std::unique_ptr<Conn>> keep;
    for (size_t i = 0; i < conns_.size(); ++i) {
      Conn& c = *conns_[i];
      Next what = Next::kKeep;
      if (i < polled && pfds[i + 2].revents) what = on_readable(c, t);
      else if (t >= c.deadline) what = on_timeout(c);
      if (what == Next::kClose) close_conn(c);
      else if (what == Next::kDispatch) dispatch.push_back(std::move(conns_[i]));
      else keep.push_back(std::move(conns_[i]));
    }
    conns_.swap(keep);
    if (pfds[0].revents & POLLIN) accept_all(t);
    hand_off(dispatch);
  }
  for (auto& c : conns_) close_conn(*c);
  conns_.clear();
}

void FrontDoor::worker_loop() {
  for (;;) {
    std::unique_ptr<Conn> c;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
      if (stopping_) return;
      c = std::move(ready_.front());
      ready_.pop_front();
      busy_fds_.insert(c->fd);
    }
    serve(std::move(c));
  }
}

void FrontDoor::serve(std::unique_ptr<Conn> c) {
  const auto start = SteadyClock::now();
  bool keep = false, linger = false;
  {
    ConnStream s(*c, {start + seconds(opt_.body_timeout), start + seconds(opt_.request_seconds), opt_.write_stall});
    ConnContext ctx{c.get()};
    ConnScope scope(ctx);
    const bool close_after =
        (hooks_.closing && hooks_.closing()) || c->requests + 1 >= opt_.keep_alive_max || !c->head_ok;
    bool closed = false, ok = false;
    try {
      ok = hooks_.serve(s, close_after, closed);
    } catch (...) {  // cpp-httplib answers handler exceptions itself; anything else just ends the connection
      ok = false;
    }
    ++c->requests;
    const bool unread = ctx.must_close() || !c->head_ok;  // the body (or how long it is) is unknown
    keep = ok && !closed && !close_after && !s.failed() && !unread;
    linger = ok && !s.failed() && unread;
  }
  const auto now = SteadyClock::now();
  std::lock_guard<std::mutex> lock(mu_);
  busy_fds_.erase(c->fd);
  if (stopping_ || !(keep || linger)) {
    close_conn(*c);
    return;
  }
  if (linger) {  // the answer is out; drain what the client still sends so it is not reset
    ::shutdown(c->fd, SHUT_WR);
    c->state = Conn::State::kLinger;
    c->deadline = now + seconds(opt_.linger_seconds);
    c->buf.clear();
  } else {
    c->state = Conn::State::kIdle;
    c->deadline = now + seconds(opt_.idle_timeout);
  }
  c->scanned = 0;
  inbox_.push_back(std::move(c));
  wake();
}

}  // namespace frugal::serve
