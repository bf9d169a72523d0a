// One writer per directory: a training run holds its run directory for as long as it lives, so a
// second `frugal train` (a --resume started while the first still runs) is refused at start
// instead of interleaving checkpoints with it (docs/training.md, Checkpoints and resume).
//
// The lock is flock() on a file in the directory, which the kernel drops when the holder's
// process ends in any way (kill -9 included): there is never a stale lock to clean up by hand.
// The file holds the holder's PID, for the message the second writer gets.
#pragma once
#include <string>

namespace frugal {

class DirLock {
 public:
  // Takes the lock on `dir`/`file_name` (creating the file), or throws Error(kInvalidArgument)
  // naming the directory and the holder's PID when another process (or another DirLock in this
  // one) holds it; Error(kIo) when the lock file cannot be created. `holder` says what holds
  // such a lock, for the message ("training run").
  DirLock(const std::string& dir, const std::string& file_name, const std::string& holder);
  ~DirLock();
  DirLock(DirLock&& o) noexcept;
  DirLock& operator=(DirLock&& o) noexcept;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace frugal
