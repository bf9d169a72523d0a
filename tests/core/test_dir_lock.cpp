// DirLock (src/core/dir_lock.h): one writer per directory. A second holder is refused with the
// first one's PID; the kernel frees the lock when the holder dies, even by SIGKILL.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "core/dir_lock.h"
#include "core/error.h"
#include "test_util.h"

using namespace frugal;
using namespace frugal::test;

namespace {

TEST(DirLock, SecondHolderInThisProcessIsRefused) {
  TempDir dir;
  {
    const DirLock a(dir.str(), "x.lock", "test run");
    expect_error([&] { DirLock b(dir.str(), "x.lock", "test run"); }, ErrorKind::kInvalidArgument,
                 {dir.str(), "in use by another test run", "pid " + std::to_string(::getpid()), "x.lock"});
    // A lock of another name is another lock.
    EXPECT_NO_THROW(DirLock(dir.str(), "y.lock", "test run"));
  }
  EXPECT_NO_THROW(DirLock(dir.str(), "x.lock", "test run"));  // released with `a`
}

TEST(DirLock, HolderKilledBySigkillFreesTheLock) {
  TempDir dir;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    try {
      const DirLock lock(dir.str(), "train.lock", "training run");
      [[maybe_unused]] const ssize_t w = ::write(ready[1], "1", 1);
      for (;;) ::pause();  // until killed
    } catch (...) {
      ::_exit(1);
    }
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1) << "the child could not take the lock";
  ::close(ready[0]);

  expect_error([&] { DirLock second(dir.str(), "train.lock", "training run"); }, ErrorKind::kInvalidArgument,
               {"in use by another training run", "pid " + std::to_string(child)});

  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  // No stale lock: the file is still there, but nobody holds it.
  EXPECT_NO_THROW(DirLock(dir.str(), "train.lock", "training run"));
  // The new holder's PID replaced the dead one's.
  const DirLock mine(dir.str(), "train.lock", "training run");
  EXPECT_EQ(read_bytes(dir.file("train.lock")), std::to_string(::getpid()) + "\n");
}

TEST(DirLock, UnwritableDirectoryIsAnIoError) {
  expect_error([] { DirLock l("/nonexistent/dir", "x.lock", "test run"); }, ErrorKind::kIo,
               {"cannot create lock file /nonexistent/dir/x.lock"});
}

}  // namespace
