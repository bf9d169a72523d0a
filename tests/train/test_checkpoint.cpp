// Checkpoints: bit-exact round trip (also from a misaligned file), keep-last-N, fallback from a
// corrupt / truncated / incomplete / too deeply nested newest checkpoint with a warning, leftovers
// of a killed save, and a real disk-full save (a forked child with RLIMIT_FSIZE) that must leave
// the previous checkpoint loadable.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "core/rng.h"
#include "test_util.h"
#include "train/train_test_util.h"
#include "train/checkpoint.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::expect_error;
using test::read_bytes;
using test::TempDir;
using test::write_bytes;

// A small "model": weights with awkward values (NaN payload, -0, denormal, inf) to prove the
// bytes, not just the values, survive.
struct State {
  std::vector<float> a, b, bias;
  explicit State(uint64_t seed) {
    Rng rng(seed);
    a.resize(3 * 5);
    b.resize(1000);
    bias.resize(8);
    for (auto& x : a) x = rng.normal();
    for (auto& x : b) x = rng.normal();
    for (auto& x : bias) x = 0.1f * rng.normal();
    uint32_t nan_bits = 0x7fc01234u;
    std::memcpy(&a[0], &nan_bits, 4);
    a[1] = -0.0f;
    a[2] = std::numeric_limits<float>::denorm_min();
    a[3] = -std::numeric_limits<float>::infinity();
  }
  std::vector<CheckpointTensor> tensors() const {
    return {{"model.a.weight", {3, 5}, a.data()},
            {"model.b.weight", {1000}, b.data()},
            {"model.layers.1.mlp.gate.e_score_correction_bias", {8}, bias.data()},
            {"empty", {0, 4}, nullptr}};
  }
};

json meta_for(int64_t step) {
  return {{"step", step}, {"loader", {{"epoch", 1}, {"position", 12345}}}, {"rng", {1, 2, 3, 4}}, {"name", "ünï"}};
}

std::string step_dir(const TempDir& d, int64_t step) {
  return d.str() + "/ckpt/" + checkpoint_dir_name(step);
}

void expect_same_bits(const LoadedCheckpoint& ck, const State& s) {
  for (const CheckpointTensor& t : s.tensors()) {
    ASSERT_TRUE(ck.has(t.name)) << t.name;
    EXPECT_EQ(ck.shape(t.name), t.shape) << t.name;
    const std::span<const float> got = ck.f32(t.name, shape_numel(t.shape));
    if (!got.empty()) {
      EXPECT_EQ(std::memcmp(got.data(), t.data, got.size() * 4), 0) << t.name;
    }
  }
}

bool has_warning(const LoadedCheckpoint& ck, const std::vector<std::string>& needles) {
  for (const std::string& w : ck.warnings) {
    bool all = true;
    for (const std::string& n : needles) all = all && w.find(n) != std::string::npos;
    if (all) return true;
  }
  return false;
}

std::string dump_warnings(const LoadedCheckpoint& ck) {
  std::string out;
  for (const std::string& w : ck.warnings) out += w + "\n";
  return out;
}

TEST(Checkpoint, RoundTripIsBitExact) {
  TempDir d;
  const State s(1);
  save_checkpoint(d.str(), 7, s.tensors(), meta_for(7), 3);
  EXPECT_EQ(read_bytes(d.str() + "/ckpt/latest"), "step_00000007\n");
  EXPECT_TRUE(fs::is_regular_file(step_dir(d, 7) + "/state.safetensors"));
  EXPECT_EQ(verify_checkpoint_dir(step_dir(d, 7)), std::nullopt);

  const std::optional<LoadedCheckpoint> ck = load_latest_checkpoint(d.str());
  ASSERT_TRUE(ck.has_value());
  EXPECT_EQ(ck->step, 7);
  EXPECT_EQ(ck->dir, step_dir(d, 7));
  EXPECT_EQ(ck->meta, meta_for(7));
  EXPECT_TRUE(ck->warnings.empty()) << dump_warnings(*ck);
  EXPECT_EQ(ck->names().size(), 4u);
  expect_same_bits(*ck, s);
  std::vector<float> copy(1000);
  ck->copy_to("model.b.weight", copy.data(), 1000);
  EXPECT_EQ(copy, s.b);

  const LoadedCheckpoint by_step = load_checkpoint(d.str(), 7);
  EXPECT_EQ(by_step.meta, meta_for(7));
  expect_error([&] { load_checkpoint(d.str(), 8); }, ErrorKind::kFormat, {"step_00000008"});
  expect_error([&] { ck->f32("nope"); }, ErrorKind::kFormat, {"'nope'", "step_00000007"});
  expect_error([&] { ck->f32("model.b.weight", 999); }, ErrorKind::kFormat, {"model.b.weight", "expected 999"});
}

TEST(Checkpoint, NoCheckpointIsNullopt) {
  TempDir d;
  EXPECT_FALSE(load_latest_checkpoint(d.str()).has_value());
  fs::create_directories(d.str() + "/ckpt/step_00000005.tmp");  // only a killed save's leftover
  EXPECT_FALSE(load_latest_checkpoint(d.str()).has_value());
  EXPECT_FALSE(load_latest_checkpoint(d.str() + "/does_not_exist").has_value());
}

TEST(Checkpoint, KeepLastN) {
  TempDir d;
  const State s(2);
  for (int64_t step = 1; step <= 5; ++step) save_checkpoint(d.str(), step * 10, s.tensors(), meta_for(step), 2);
  EXPECT_EQ(list_checkpoint_steps(d.str()), (std::vector<int64_t>{40, 50}));
  for (int64_t step = 6; step <= 7; ++step) save_checkpoint(d.str(), step * 10, s.tensors(), meta_for(step), 0);
  EXPECT_EQ(list_checkpoint_steps(d.str()), (std::vector<int64_t>{40, 50, 60, 70}));  // 0 keeps all
  // A run resumed from 50 saves 55 with keep_last 1: older ones go, the abandoned 60/70 stay,
  // and `latest` (not the highest number) decides what loads.
  save_checkpoint(d.str(), 55, s.tensors(), meta_for(55), 1);
  EXPECT_EQ(list_checkpoint_steps(d.str()), (std::vector<int64_t>{55, 60, 70}));
  const auto ck = load_latest_checkpoint(d.str());
  ASSERT_TRUE(ck.has_value());
  EXPECT_EQ(ck->step, 55);
  EXPECT_TRUE(ck->warnings.empty()) << dump_warnings(*ck);
}

TEST(Checkpoint, ResavingAStepReplacesIt) {
  TempDir d;
  const State s1(3), s2(4);
  save_checkpoint(d.str(), 1, s1.tensors(), meta_for(1), 0);
  save_checkpoint(d.str(), 1, s2.tensors(), meta_for(2), 0);
  const auto ck = load_latest_checkpoint(d.str());
  ASSERT_TRUE(ck.has_value());
  EXPECT_EQ(ck->meta, meta_for(2));
  expect_same_bits(*ck, s2);
  EXPECT_EQ(d.count(), 1);  // only ckpt/
  long entries = long(std::distance(fs::directory_iterator(d.str() + "/ckpt"), fs::directory_iterator()));
  EXPECT_EQ(entries, 2);  // step_00000001 + latest
}

// Saves steps 1 and 2, damages step 2 with `damage`, and expects step 1 plus a warning
// containing every needle.
void expect_fallback(const std::function<void(const std::string& dir2)>& damage,
                     const std::vector<std::string>& needles) {
  TempDir d;
  const State s1(5), s2(6);
  save_checkpoint(d.str(), 1, s1.tensors(), meta_for(1), 0);
  save_checkpoint(d.str(), 2, s2.tensors(), meta_for(2), 0);
  damage(step_dir(d, 2));
  EXPECT_NE(verify_checkpoint_dir(step_dir(d, 2)), std::nullopt);
  const auto ck = load_latest_checkpoint(d.str());
  ASSERT_TRUE(ck.has_value());
  EXPECT_EQ(ck->step, 1);
  expect_same_bits(*ck, s1);
  EXPECT_EQ(ck->meta, meta_for(1));
  EXPECT_TRUE(has_warning(*ck, needles)) << dump_warnings(*ck);
  EXPECT_TRUE(has_warning(*ck, {"step_00000002"})) << dump_warnings(*ck);
}

TEST(Checkpoint, FlippedByteInStateFallsBack) {
  expect_fallback(
      [](const std::string& dir) {
        std::string bytes = read_bytes(dir + "/state.safetensors");
        bytes[bytes.size() - 100] ^= 0x01;  // inside the tensor data: the header still parses
        write_bytes(dir + "/state.safetensors", bytes);
      },
      {"state.safetensors", "checksum mismatch"});
}

TEST(Checkpoint, TruncatedStateFallsBack) {
  expect_fallback(
      [](const std::string& dir) { fs::resize_file(dir + "/state.safetensors", 1000); },
      {"state.safetensors", "truncated", "1000 bytes"});
}

TEST(Checkpoint, MissingFilesFallBack) {
  expect_fallback([](const std::string& dir) { fs::remove(dir + "/state.safetensors"); },
                  {"state.safetensors", "missing"});
  expect_fallback([](const std::string& dir) { fs::remove(dir + "/meta.json"); }, {"meta.json", "missing"});
  expect_fallback([](const std::string& dir) { fs::remove_all(dir); }, {"no such checkpoint directory"});
}

TEST(Checkpoint, BadMetaFallsBack) {
  expect_fallback([](const std::string& dir) { write_bytes(dir + "/meta.json", "{\"format\": \"frugal-chec"); },
                  {"meta.json", "not valid JSON"});
  expect_fallback([](const std::string& dir) { write_bytes(dir + "/meta.json", "[1, 2]"); },
                  {"meta.json", "JSON object"});
  expect_fallback([](const std::string& dir) { write_bytes(dir + "/meta.json", std::string("\xff\xfe\0x", 4)); },
                  {"meta.json", "NUL byte"});
  expect_fallback([](const std::string& dir) { write_bytes(dir + "/meta.json", "\xff\xfe"); },
                  {"meta.json", "not valid JSON"});
  // Valid JSON whose caller meta was altered (a flipped digit in the loader position).
  expect_fallback(
      [](const std::string& dir) {
        json doc = json::parse(read_bytes(dir + "/meta.json"));
        doc["meta"]["loader"]["position"] = 12346;
        write_bytes(dir + "/meta.json", doc.dump());
      },
      {"meta.json", "checksum mismatch of 'meta'"});
  expect_fallback(
      [](const std::string& dir) {
        json doc = json::parse(read_bytes(dir + "/meta.json"));
        doc["version"] = 99;
        write_bytes(dir + "/meta.json", doc.dump());
      },
      {"meta.json", "unsupported checkpoint version 99"});
  expect_fallback(
      [](const std::string& dir) {
        json doc = json::parse(read_bytes(dir + "/meta.json"));
        doc["step"] = 3;
        write_bytes(dir + "/meta.json", doc.dump());
      },
      {"meta.json", "'step' is 3"});
  expect_fallback(
      [](const std::string& dir) {
        json doc = json::parse(read_bytes(dir + "/meta.json"));
        doc["files"]["../../etc/passwd"] = {{"bytes", 1}, {"crc32", "00000000"}};
        write_bytes(dir + "/meta.json", doc.dump());
      },
      {"meta.json", "plain name"});
  // A meta.json nested 10^5 deep parsed fine, then overflowed the stack copying the caller's meta.
  expect_fallback(
      [](const std::string& dir) {
        json doc = json::parse(read_bytes(dir + "/meta.json"));
        doc["meta"] = "DEEP";
        std::string text = doc.dump();
        text.replace(text.find("\"DEEP\""), 6, std::string(100000, '[') + std::string(100000, ']'));
        write_bytes(dir + "/meta.json", text);
      },
      {"meta.json", "nested deeper than 64 levels", "under key 'meta'"});
}

// A valid checkpoint whose tensor data is not 4-aligned (header one byte longer, sizes and CRCs
// agreeing) loads the same bits. The views used to point into aligned copies that were freed as
// soon as f32() returned; all views are taken before any is read, as the optimizer does.
TEST(Checkpoint, MisalignedStateLoadsTheSameBits) {
  TempDir d;
  const State s(11);
  save_checkpoint(d.str(), 4, s.tensors(), meta_for(4), 0);
  test::misalign_checkpoint(step_dir(d, 4));
  EXPECT_EQ(verify_checkpoint_dir(step_dir(d, 4)), std::nullopt);
  const std::optional<LoadedCheckpoint> ck = load_latest_checkpoint(d.str());
  ASSERT_TRUE(ck.has_value());
  EXPECT_EQ(ck->step, 4);
  EXPECT_TRUE(ck->warnings.empty()) << dump_warnings(*ck);
  const std::vector<CheckpointTensor> ts = s.tensors();
  std::vector<std::span<const float>> views;
  for (const CheckpointTensor& t : ts) views.push_back(ck->f32(t.name, shape_numel(t.shape)));
  const std::span<const float> again = ck->f32("model.b.weight");
  EXPECT_EQ(again.data(), views[1].data());  // one aligned copy per tensor, kept with the checkpoint
  EXPECT_EQ(reinterpret_cast<uintptr_t>(again.data()) % alignof(float), 0u);
  for (size_t i = 0; i < views.size(); ++i) {
    const CheckpointTensor& t = ts[i];
    ASSERT_EQ(views[i].size(), size_t(shape_numel(t.shape))) << t.name;
    if (!views[i].empty()) {
      EXPECT_EQ(std::memcmp(views[i].data(), t.data, views[i].size() * 4), 0) << t.name;
    }
  }
  expect_same_bits(*ck, s);
}

TEST(Checkpoint, LatestMissingOrGarbageUsesNewestDir) {
  TempDir d;
  const State s(7);
  save_checkpoint(d.str(), 1, s.tensors(), meta_for(1), 0);
  save_checkpoint(d.str(), 2, s.tensors(), meta_for(2), 0);
  fs::remove(d.str() + "/ckpt/latest");
  auto ck = load_latest_checkpoint(d.str());
  ASSERT_TRUE(ck.has_value());
  EXPECT_EQ(ck->step, 2);
  EXPECT_TRUE(has_warning(*ck, {"latest", "missing"})) << dump_warnings(*ck);

  write_bytes(d.str() + "/ckpt/latest", "step_../../x\n");
  ck = load_latest_checkpoint(d.str());
  ASSERT_TRUE(ck.has_value());
  EXPECT_EQ(ck->step, 2);
  EXPECT_TRUE(has_warning(*ck, {"latest", "garbage"})) << dump_warnings(*ck);

  write_bytes(d.str() + "/ckpt/latest", "step_00000009\n");  // names a step that is not there
  ck = load_latest_checkpoint(d.str());
  ASSERT_TRUE(ck.has_value());
  EXPECT_EQ(ck->step, 2);
  EXPECT_TRUE(has_warning(*ck, {"step_00000009", "no such checkpoint directory"})) << dump_warnings(*ck);
}

TEST(Checkpoint, NoValidCheckpointIsAnError) {
  TempDir d;
  const State s(8);
  save_checkpoint(d.str(), 3, s.tensors(), meta_for(3), 0);
  fs::resize_file(step_dir(d, 3) + "/state.safetensors", 10);
  expect_error([&] { load_latest_checkpoint(d.str()); }, ErrorKind::kFormat,
               {"no valid checkpoint in", d.str() + "/ckpt", "truncated"});
}

TEST(Checkpoint, KilledMidSaveLeftoversAreIgnoredAndCleaned) {
  TempDir d;
  const State s(9);
  save_checkpoint(d.str(), 1, s.tensors(), meta_for(1), 0);
  // What a save killed at various points leaves: a .tmp dir with a half-written state and no
  // meta, one with everything (killed just before the rename), a replaced-step leftover, and
  // the temp file of `latest`.
  const std::string ckpt = d.str() + "/ckpt";
  fs::create_directories(ckpt + "/step_00000002.tmp");
  write_bytes(ckpt + "/step_00000002.tmp/state.safetensors", "partial");
  fs::copy(step_dir(d, 1), ckpt + "/step_00000003.tmp");
  fs::copy(step_dir(d, 1), ckpt + "/step_00000001.old.tmp");
  write_bytes(ckpt + "/.latest.tmp.4242", "step_0000");
  auto ck = load_latest_checkpoint(d.str());
  ASSERT_TRUE(ck.has_value());
  EXPECT_EQ(ck->step, 1);
  EXPECT_TRUE(ck->warnings.empty()) << dump_warnings(*ck);
  EXPECT_EQ(list_checkpoint_steps(d.str()), std::vector<int64_t>{1});

  save_checkpoint(d.str(), 2, s.tensors(), meta_for(2), 0);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(ckpt)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"latest", "step_00000001", "step_00000002"}));
}

TEST(Checkpoint, RejectsBadTensors) {
  TempDir d;
  const float x = 1;
  expect_error([&] { save_checkpoint(d.str(), 1, {{"a", {1}, &x}, {"a", {1}, &x}}, nullptr, 0); },
               ErrorKind::kInvalidArgument, {"duplicate", "'a'"});
  expect_error([&] { save_checkpoint(d.str(), 1, {{"a", {2}, nullptr}}, nullptr, 0); }, ErrorKind::kInvalidArgument,
               {"'a'", "no data"});
  expect_error([&] { save_checkpoint(d.str(), 1, {{"a", {-1}, &x}}, nullptr, 0); }, ErrorKind::kInvalidArgument,
               {"'a'"});
  expect_error([&] { save_checkpoint(d.str(), 1, {{"__metadata__", {1}, &x}}, nullptr, 0); },
               ErrorKind::kInvalidArgument, {"__metadata__"});
  expect_error([&] { save_checkpoint(d.str(), -1, {}, nullptr, 0); }, ErrorKind::kInvalidArgument, {"step -1"});
  expect_error([&] { save_checkpoint(d.str(), 1, {}, std::string("\xff"), 0); }, ErrorKind::kInvalidArgument,
               {"meta"});
  EXPECT_FALSE(load_latest_checkpoint(d.str()).has_value());  // nothing was committed
}

// Runs save_checkpoint(step 2) in a child whose files may not grow past `limit` bytes: write()
// fails with EFBIG exactly like a full disk. Returns the child's exit code (0: it threw the
// expected disk-full Error).
int save_in_child_with_file_limit(const std::string& run_dir, rlim_t limit, const json& meta) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit rl{limit, limit};
    if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) ::_exit(10);
    const State s(2);
    try {
      save_checkpoint(run_dir, 2, s.tensors(), meta, 1);
    } catch (const Error& e) {
      const std::string msg = e.what();
      const bool ok = msg.find("File too large") != std::string::npos && msg.find("disk full") != std::string::npos &&
                      msg.find("step_00000002.tmp") != std::string::npos;
      ::_exit(ok ? 0 : 11);
    } catch (...) {
      ::_exit(12);
    }
    ::_exit(13);  // no error at all
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

TEST(Checkpoint, DiskFullDuringSaveKeepsThePreviousCheckpoint) {
  TempDir d;
  const State s1(1);
  save_checkpoint(d.str(), 1, s1.tensors(), meta_for(1), 1);
  const uintmax_t state_size = fs::file_size(step_dir(d, 1) + "/state.safetensors");

  // 1) The disk fills while writing state.safetensors.
  EXPECT_EQ(save_in_child_with_file_limit(d.str(), 2048, meta_for(2)), 0);
  // 2) state.safetensors fits, meta.json (made large by the caller's meta) does not.
  json big = meta_for(2);
  big["notes"] = std::string(state_size + 4096, 'x');
  EXPECT_EQ(save_in_child_with_file_limit(d.str(), rlim_t(state_size + 16), big), 0);

  for (int i = 0; i < 2; ++i) {
    const auto ck = load_latest_checkpoint(d.str());
    ASSERT_TRUE(ck.has_value());
    EXPECT_EQ(ck->step, 1);
    EXPECT_EQ(ck->meta, meta_for(1));
    EXPECT_TRUE(ck->warnings.empty()) << dump_warnings(*ck);
    expect_same_bits(*ck, s1);
    EXPECT_EQ(list_checkpoint_steps(d.str()), std::vector<int64_t>{1});  // keep_last 1 deleted nothing
    EXPECT_FALSE(fs::exists(step_dir(d, 2)));
    // The next (unlimited) save succeeds and cleans whatever the failed ones left.
    if (i == 0) {
      save_checkpoint(d.str(), 1, s1.tensors(), meta_for(1), 1);
      for (const auto& e : fs::directory_iterator(d.str() + "/ckpt"))
        EXPECT_FALSE(e.path().filename().string().ends_with(".tmp")) << e.path();
    }
  }
}

}  // namespace
}  // namespace frugal
