// What a run directory holds against: a resume from a checkpoint whose tensor data is misaligned
// (it read freed memory and logged NaN losses, exit status 0), and a second writer on a live run's
// directory (it interleaved checkpoints with the first and failed mid-run).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>
#include <thread>

#include "test_util.h"
#include "train/train_test_util.h"
#include "train/trainer.h"

using namespace frugal;
using namespace frugal::test;
namespace fs = std::filesystem;

namespace {

// Resuming from the misaligned copy of a checkpoint continues exactly like resuming from the
// original: the same losses, gradient norms and final state, bit for bit.
TEST(RunDir, ResumeFromMisalignedCheckpointIsBitExact) {
  TempDir dir;
  const std::string ids = write_corpus(dir, 4000);
  const std::string aligned = dir.file("aligned"), misaligned = dir.file("misaligned");
  run_training(micro_config(ids, aligned, 8));  // checkpoints at 3, 6 and 8
  // Back to step 6, as if killed before step 8's checkpoint; the copy gets a misaligned step 6.
  fs::remove_all(aligned + "/ckpt/step_00000008");
  write_bytes(aligned + "/ckpt/latest", "step_00000006\n");
  fs::copy(aligned, misaligned, fs::copy_options::recursive);
  misalign_checkpoint(misaligned + "/ckpt/step_00000006");
  ASSERT_NE(read_bytes(aligned + "/ckpt/step_00000006/state.safetensors"),
            read_bytes(misaligned + "/ckpt/step_00000006/state.safetensors"));

  for (const std::string& run : {aligned, misaligned}) {
    TrainConfig c = micro_config(ids, run, 8);
    c.checkpoint.resume = true;
    const TrainSummary s = run_training(c);
    EXPECT_EQ(s.start_step, 6) << run;
    EXPECT_EQ(s.steps_done, 8) << run;
  }
  const auto a = read_losses(aligned), b = read_losses(misaligned);
  ASSERT_EQ(a.size(), 8u);
  ASSERT_EQ(b.size(), 8u);
  for (int64_t st = 7; st <= 8; ++st) {
    ASSERT_TRUE(std::isfinite(b.at(st)[0])) << "step " << st;
    EXPECT_EQ(a.at(st), b.at(st)) << "step " << st;
  }
  EXPECT_TRUE(read_bytes(aligned + "/ckpt/step_00000008/state.safetensors") ==
              read_bytes(misaligned + "/ckpt/step_00000008/state.safetensors"));
}

// Starts `frugal ARGS` as a child process (output discarded) and returns its pid.
pid_t spawn_frugal(const std::vector<std::string>& args) {
  std::vector<std::string> argv_s = {FRUGAL_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// A live run holds its directory: a second `frugal train` there (a --resume, or a fresh run) is
// refused at start, naming the holder's PID; once the holder is killed with SIGKILL the lock is
// gone with it and a new run takes the directory.
TEST(RunDir, SecondWriterIsRefusedUntilTheFirstDies) {
  ASSERT_TRUE(fs::exists(FRUGAL_BINARY)) << FRUGAL_BINARY " missing: the test target depends on it";
  TempDir dir;
  const std::string ids = write_corpus(dir, 4000), run = dir.file("run");
  const std::vector<std::string> common = {"--threads", "1", "train", "--tokens", ids, "--out", run, "--preset",
                                           "micro", "--vocab-size", "64", "--seq-len", "16", "--batch", "2",
                                           "--lr", "3e-3", "--warmup", "2", "--log-every", "1000", "--eval-every", "0"};
  std::vector<std::string> first = common;
  for (const char* a : {"--steps", "1000000", "--checkpoint-every", "5"}) first.push_back(a);
  pid_t holder = spawn_frugal(first);
  ASSERT_GT(holder, 0);
  // However the test ends, the million-step holder does not outlive it.
  struct Reaper {
    pid_t& pid;
    ~Reaper() {
      if (pid > 0) ::kill(pid, SIGKILL), ::waitpid(pid, nullptr, 0);
    }
  } reaper{holder};
  // The holder writes its PID into the lock file right after taking the lock.
  const std::string lock = run + "/" + kRunLockFile, want = std::to_string(holder) + "\n";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (read_bytes(lock) != want && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(read_bytes(lock), want) << "the first run never took its lock";

  const std::string bin = std::string(FRUGAL_BINARY) + " --threads 1 train --tokens " + ids + " --out " + run +
                          " --preset micro --vocab-size 64 --seq-len 16 --batch 2 --lr 3e-3 --warmup 2 "
                          "--log-every 1000 --eval-every 0 --steps 4 --checkpoint-every 2";
  for (const char* extra : {" --resume", ""}) {
    const CommandResult r = run_command(bin + extra + " 2>&1");
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_NE(r.out.find(run + " is in use by another training run (pid " + std::to_string(holder) + ","),
              std::string::npos)
        << r.out;
  }

  ASSERT_EQ(::kill(holder, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(holder, &status, 0), holder);
  holder = -1;  // reaped
  ASSERT_TRUE(WIFSIGNALED(status)) << "the first run ended before the test killed it";
  const CommandResult r = run_command(bin + " 2>&1");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(read_bytes(run + "/ckpt/latest"), "step_00000004\n");
}

}  // namespace
