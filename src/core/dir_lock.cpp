#include "core/dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/error.h"
#include "core/file.h"

namespace frugal {
namespace {

// The PID a holder wrote, or "unknown" (it may be between taking the lock and writing it).
std::string holder_pid(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string s = n > 0 ? std::string(buf, size_t(n)) : std::string();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return "unknown";
  return s;
}

}  // namespace

DirLock::DirLock(const std::string& dir, const std::string& file_name, const std::string& holder)
    : path_(path_join(dir, file_name)) {
  // O_CLOEXEC: a program this process starts must not inherit (and so prolong) the lock.
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(ErrorKind::kIo, "cannot create lock file {}: {}", path_, std::strerror(errno));
  int rc;
  do rc = ::flock(fd_, LOCK_EX | LOCK_NB);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    const std::string pid = err == EWOULDBLOCK ? holder_pid(fd_) : std::string();
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) fail(ErrorKind::kIo, "cannot lock {}: {}", path_, std::strerror(err));
    fail(ErrorKind::kInvalidArgument,
         "{} is in use by another {} (pid {}, holding {}); wait for it to end or stop it, or use another directory",
         dir, holder, pid, path_);
  }
  // Best effort: the PID only improves the message a second writer gets. The file itself stays
  // when the lock is released; removing it would let two writers lock two different files.
  const std::string text = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const ssize_t written = ::pwrite(fd_, text.data(), text.size(), 0);
  }
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the lock
}

DirLock::DirLock(DirLock&& o) noexcept : path_(std::move(o.path_)), fd_(std::exchange(o.fd_, -1)) {}

DirLock& DirLock::operator=(DirLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(o.path_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

}  // namespace frugal
