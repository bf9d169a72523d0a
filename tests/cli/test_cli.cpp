// End-to-end tests of the `frugal` binary (FRUGAL_BINARY): each test spawns the real executable,
// captures stdout/stderr to files, and checks the exit status and messages. Bad inputs must end
// in a clean non-zero exit (never a signal, never a sanitizer report) with stderr naming the
// problem: the file, the tensor, the config key or the flag.
#include <gtest/gtest.h>

#include <limits>

#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"

#include "test_util.h"
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "infer/generate.h"
#include "io/hf_loader.h"
#include "io/npy.h"
#include "io/safetensors.h"

extern char** environ;

using namespace frugal;
namespace fs = std::filesystem;

namespace {

using frugal::test::kBinary;
const std::string kFixtures = FRUGAL_TEST_DATA "/fixtures";
const std::string kF32 = kFixtures + "/micro_f32";
const std::string kPrompt = "241,160,175,229";  // = oracles/input_ids.npy row 0, first 4 ids

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void spit(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

using frugal::test::TempDir;

struct RunResult {
  int status = 0;
  std::string out, err;
  bool exited() const { return WIFEXITED(status); }
  bool signaled() const { return WIFSIGNALED(status); }
  int code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }
  std::string describe() const {
    std::string s = signaled() ? "killed by signal " + std::to_string(WTERMSIG(status))
                               : "exit code " + std::to_string(code());
    return s + "\n--- stdout ---\n" + out.substr(0, 2000) + "\n--- stderr ---\n" + err.substr(0, 2000);
  }
};

// Runs the frugal binary with `args` (no shell), stdout and stderr captured through files.
RunResult run_frugal(const std::vector<std::string>& args) {
  TempDir io;
  const std::string out = io.file("stdout"), err = io.file("stderr");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> argv_s = {kBinary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  RunResult r;
  const int rc = posix_spawn(&pid, kBinary.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    ADD_FAILURE() << "cannot spawn " << kBinary << ": " << std::strerror(rc);
    r.status = -1;
    return r;
  }
  while (::waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {
  }
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// No sanitizer report and no crash, whatever the exit code.
void expect_clean(const RunResult& r) {
  EXPECT_FALSE(r.signaled()) << r.describe();
  EXPECT_FALSE(contains(r.err, "Sanitizer")) << r.describe();
  EXPECT_FALSE(contains(r.err, "runtime error:")) << r.describe();
}

void expect_ok(const RunResult& r) {
  expect_clean(r);
  EXPECT_EQ(r.code(), 0) << r.describe();
}

// A clean failure: exit code 1 or 2 (not a signal, not a sanitizer abort), stderr naming the
// problem with every needle, nothing on stdout.
void expect_failure(const RunResult& r, const std::vector<std::string>& needles) {
  expect_clean(r);
  EXPECT_TRUE(r.exited()) << r.describe();
  EXPECT_NE(r.code(), 0) << r.describe();
  for (const auto& n : needles) EXPECT_TRUE(contains(r.err, n)) << "stderr lacks '" << n << "'\n" << r.describe();
}

void expect_input_error(const RunResult& r, const std::vector<std::string>& needles) {
  expect_failure(r, needles);
  EXPECT_EQ(r.code(), 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "error")) << r.describe();
}

// Copies a fixture checkpoint into `dir` (writable copies of config.json and model.safetensors).
std::string copy_model(const std::string& fixture, const std::string& dir) {
  fs::create_directories(dir);
  for (const char* f : {"config.json", "model.safetensors"}) {
    fs::copy_file(fixture + "/" + f, dir + "/" + f, fs::copy_options::overwrite_existing);
    fs::permissions(dir + "/" + f, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add);
  }
  return dir;
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(slurp(path)); }
void write_json(const std::string& path, const nlohmann::json& j) { spit(path, j.dump(1)); }

// Rewrites dir/model.safetensors through SafetensorsWriter, letting `edit` change each tensor:
// return false to drop it. `extra` runs at the end to add tensors.
void rewrite_checkpoint(const std::string& dir,
                        const std::function<bool(const SafetensorsEntry&, SafetensorsWriter&, const Tensor&)>& edit,
                        const std::function<void(SafetensorsWriter&)>& extra = {}) {
  const std::string path = dir + "/model.safetensors";
  SafetensorsWriter w;
  {
    SafetensorsFile in(path);
    for (const auto& [k, v] : in.metadata()) w.set_metadata(k, v);
    for (const SafetensorsEntry& e : in.entries()) {
      Tensor t = in.tensor(e.name);
      if (edit(e, w, t)) w.add(e.name, t);
    }
  }
  if (extra) extra(w);
  w.write(path);
}

std::vector<int32_t> parse_ids_json(const std::string& out) {
  return nlohmann::json::parse(out).at("ids").get<std::vector<int32_t>>();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// logits

TEST(CliLogits, WritesFloat32LogitsEqualToTheReference) {
  TempDir dir;
  const std::string out = dir.file("logits.npy");
  Tensor ids = npy_read(kFixtures + "/oracles/input_ids.npy");  // int32 [2, 12]
  ASSERT_EQ(ids.dtype(), DType::kI32);
  const int32_t* row0 = ids.data_as<int32_t>();
  ASSERT_EQ(std::vector<int32_t>(row0, row0 + 4), (std::vector<int32_t>{241, 160, 175, 229}));
  Tensor ref = npy_read(kFixtures + "/oracles/micro_f32_logits.npy");  // [2, 12, 256]
  ASSERT_EQ(ref.shape(), (Shape{2, 12, 256}));

  for (const char* attn : {"auto", "naive", "absorb"}) {
    RunResult r = run_frugal({"logits", kF32, "--ids", kPrompt, "--out", out, "--attn", attn});
    expect_ok(r);
    // Causal attention: the logits of the 4-token prefix are the first 4 rows of the 12-token oracle.
    Tensor got = npy_read(out);
    ASSERT_EQ(got.dtype(), DType::kF32);
    ASSERT_EQ(got.shape(), (Shape{4, 256}));
    float max_diff = 0;
    for (int64_t i = 0; i < 4 * 256; ++i)
      max_diff = std::max(max_diff, std::fabs(got.data_as<float>()[i] - ref.data_as<float>()[i]));
    EXPECT_LT(max_diff, 1e-4f) << "attn " << attn;
  }
  // The whole 12-token row too (no temp files left next to the output).
  std::string all;
  for (int i = 0; i < 12; ++i) {
    if (i) all += ',';
    all += std::to_string(row0[i]);
  }
  expect_ok(run_frugal({"logits", kF32, "--ids", all, "--out", out}));
  Tensor got = npy_read(out);
  ASSERT_EQ(got.shape(), (Shape{12, 256}));
  float max_diff = 0;
  for (int64_t i = 0; i < 12 * 256; ++i)
    max_diff = std::max(max_diff, std::fabs(got.data_as<float>()[i] - ref.data_as<float>()[i]));
  EXPECT_LT(max_diff, 1e-4f);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.str()), fs::directory_iterator()), 1);
}

TEST(CliLogits, UnwritableOutputIsAnErrorNamingIt) {
  TempDir dir;
  const std::string out = dir.file("no_such_dir/logits.npy");
  expect_input_error(run_frugal({"logits", kF32, "--ids", "1,2", "--out", out}), {"no_such_dir"});
}

// ---------------------------------------------------------------------------------------------
// generate

TEST(CliGenerate, GreedyJsonMatchesTheReference) {
  RunResult r = run_frugal({"generate", kF32, "--ids", kPrompt, "--max-tokens", "8", "--temperature", "0", "--json"});
  expect_ok(r);
  EXPECT_EQ(r.out, "{\"ids\":[51,187,12,249,187,167,33,192]}\n");  // oracles/greedy.json
  // Same answer with one thread, and in streaming (one id per line) form.
  RunResult one = run_frugal({"--threads", "1", "generate", kF32, "--ids", kPrompt, "--max-tokens", "8",
                              "--temperature", "0", "--json"});
  expect_ok(one);
  EXPECT_EQ(one.out, r.out);
  RunResult stream = run_frugal({"generate", kF32, "--ids", kPrompt, "--max-tokens", "8", "--temperature", "0"});
  expect_ok(stream);
  EXPECT_EQ(stream.out, "51\n187\n12\n249\n187\n167\n33\n192\n");
}

TEST(CliGenerate, SeededSamplingIsReproducibleAndMatchesTheLibrary) {
  const std::vector<std::string> args = {"generate", kF32, "--ids", kPrompt, "--max-tokens", "12", "--temperature",
                                         "0.7", "--seed", "1234", "--json"};
  RunResult a = run_frugal(args), b = run_frugal(args);
  expect_ok(a);
  expect_ok(b);
  EXPECT_EQ(a.out, b.out);
  std::vector<int32_t> ids = parse_ids_json(a.out);
  EXPECT_LE(ids.size(), 12u);

  // The flags reach the sampler: the same request through the library gives the same ids.
  auto m = load_model(kF32);
  Transformer model(m->config, m->weights);
  GenerateParams gp;
  gp.max_tokens = 12;
  gp.sampling.temperature = 0.7f;
  gp.sampling.seed = 1234;
  EXPECT_EQ(generate(model, {241, 160, 175, 229}, gp).ids, ids);

  // --top-k / --top-p / --min-p are accepted and honoured.
  RunResult f = run_frugal({"generate", kF32, "--ids", kPrompt, "--max-tokens", "12", "--temperature", "0.9",
                            "--seed", "5", "--top-k", "20", "--top-p", "0.9", "--min-p", "0.05", "--json"});
  expect_ok(f);
  gp.sampling.temperature = 0.9f;
  gp.sampling.seed = 5;
  gp.sampling.top_k = 20;
  gp.sampling.top_p = 0.9f;
  gp.sampling.min_p = 0.05f;
  EXPECT_EQ(parse_ids_json(f.out), generate(model, {241, 160, 175, 229}, gp).ids);
  // top-k 1 at any temperature is greedy.
  RunResult k1 = run_frugal({"generate", kF32, "--ids", kPrompt, "--max-tokens", "8", "--temperature", "3",
                             "--top-k", "1", "--seed", "9", "--json"});
  expect_ok(k1);
  EXPECT_EQ(k1.out, "{\"ids\":[51,187,12,249,187,167,33,192]}\n");
}

TEST(CliGenerate, MaxTokensZeroAndStats) {
  RunResult r = run_frugal({"generate", kF32, "--ids", kPrompt, "--max-tokens", "0", "--json"});
  expect_ok(r);
  EXPECT_EQ(r.out, "{\"ids\":[]}\n");
  RunResult s = run_frugal({"generate", kF32, "--ids", kPrompt, "--max-tokens", "3", "--temperature", "0",
                            "--json", "--stats"});
  expect_ok(s);
  EXPECT_EQ(s.out, "{\"ids\":[51,187,12]}\n");
  EXPECT_TRUE(contains(s.err, "finish length")) << s.err;
}

// ---------------------------------------------------------------------------------------------
// inspect / random-model

TEST(CliInspect, JsonReportsParametersAndLatentCacheSize) {
  RunResult r = run_frugal({"inspect", kF32, "--json"});
  expect_ok(r);
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_GT(j.at("parameters").at("total").get<int64_t>(), 0);
  EXPECT_GE(j["parameters"]["total"].get<int64_t>(), j["parameters"]["active_per_token"].get<int64_t>());
  // kv_lora_rank + qk_rope_head_dim = 16 + 8 per layer, 3 layers.
  EXPECT_EQ(j.at("kv_cache_per_token").at("latent_elements").get<int64_t>(), 3 * (16 + 8));
  EXPECT_EQ(j.at("architecture").at("vocab_size").get<int64_t>(), 256);
  EXPECT_EQ(j["architecture"]["num_hidden_layers"].get<int64_t>(), 3);
  EXPECT_EQ(j["weights"]["bytes_total"].get<int64_t>(), j["weights"]["bytes_by_dtype"]["F32"].get<int64_t>());
  EXPECT_TRUE(j["parameters"]["mtp_loaded"].get<bool>());

  RunResult text = run_frugal({"inspect", kF32});
  expect_ok(text);
  EXPECT_TRUE(contains(text.out, "KV cache per token: 72 latent values")) << text.out;

  RunResult fp8 = run_frugal({"inspect", kFixtures + "/micro_fp8", "--json"});
  expect_ok(fp8);
  nlohmann::json jf = nlohmann::json::parse(fp8.out);
  EXPECT_TRUE(jf["weights"]["bytes_by_dtype"].contains("F8_E4M3")) << fp8.out;
  EXPECT_TRUE(jf["weights"]["fp8_block_size"].is_array()) << fp8.out;
}

TEST(CliRandomModel, WritesACheckpointThatLoadsAndGenerates) {
  TempDir dir;
  const std::string out = dir.file("rand");
  expect_ok(run_frugal({"random-model", out, "--preset", "micro", "--dtype", "fp8", "--seed", "3", "--mtp"}));
  EXPECT_TRUE(fs::exists(out + "/config.json"));
  RunResult g = run_frugal({"generate", out, "--ids", "1,2,3", "--max-tokens", "4", "--temperature", "0",
                            "--json", "--ignore-eos"});
  expect_ok(g);
  EXPECT_EQ(parse_ids_json(g.out).size(), 4u);
  // Same seed, same bytes.
  const std::string out2 = dir.file("rand2");
  expect_ok(run_frugal({"random-model", out2, "--preset", "micro", "--dtype", "fp8", "--seed", "3", "--mtp"}));
  EXPECT_EQ(slurp(out + "/model.safetensors"), slurp(out2 + "/model.safetensors"));
  // --vocab-size: the preset's shape with another vocabulary (embedding and head follow it).
  const std::string out3 = dir.file("rand3");
  expect_ok(run_frugal({"random-model", out3, "--preset", "micro", "--vocab-size", "300"}));
  EXPECT_EQ(nlohmann::json::parse(slurp(out3 + "/config.json"))["vocab_size"], 300);
  RunResult g3 = run_frugal({"generate", out3, "--ids", "299", "--max-tokens", "2", "--json", "--ignore-eos"});
  expect_ok(g3);
  EXPECT_EQ(parse_ids_json(g3.out).size(), 2u);
}

// ---------------------------------------------------------------------------------------------
// Bad command-line values and ids: exit 1 with a message naming the value.

TEST(CliBadInput, Ids) {
  expect_input_error(run_frugal({"generate", kF32, "--ids", "1,abc"}), {"--ids", "abc"});
  expect_input_error(run_frugal({"generate", kF32, "--ids", "300"}), {"300", "vocabulary"});
  expect_input_error(run_frugal({"generate", kF32, "--ids", "5,-1"}), {"-1", "vocabulary"});
  expect_input_error(run_frugal({"generate", kF32, "--ids", ""}), {"--ids"});
  expect_input_error(run_frugal({"generate", kF32, "--ids", "1,,2"}), {"--ids"});
  expect_input_error(run_frugal({"generate", kF32, "--ids", "99999999999"}), {"99999999999"});
  expect_input_error(run_frugal({"logits", kF32, "--ids", "256", "--out", "/dev/null"}), {"256", "vocabulary"});
  // A prompt too long for the context window of 256.
  std::string long_ids;
  for (int i = 0; i < 255; ++i) long_ids += (i ? ",5" : "5");
  expect_input_error(run_frugal({"generate", kF32, "--ids", long_ids, "--max-tokens", "2"}), {"256", "context"});
}

TEST(CliBadInput, SamplingValues) {
  const std::vector<std::string> base = {"generate", kF32, "--ids", "1,2", "--max-tokens", "2"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_frugal(a);
  };
  expect_input_error(with({"--temperature", "-1"}), {"temperature"});
  expect_input_error(with({"--temperature", "nan"}), {"temperature"});
  expect_input_error(with({"--top-p", "0"}), {"top_p"});
  expect_input_error(with({"--top-p", "1.5"}), {"top_p"});
  expect_input_error(with({"--min-p", "-0.1"}), {"min_p"});
  expect_input_error(with({"--top-k", "-1"}), {"top_k"});
}

TEST(CliBadInput, CommandLineErrorsExitCleanlyNamingTheOption) {
  expect_failure(run_frugal({"generate", kF32, "--ids", "1", "--max-tokens", "-5"}), {"--max-tokens"});
  expect_failure(run_frugal({"generate", kF32, "--ids", "1", "--temperature", "abc"}), {"--temperature"});
  expect_failure(run_frugal({"generate", kF32}), {"--ids"});
  expect_failure(run_frugal({"generate", kF32, "--ids", "1", "--no-such-flag"}), {"--no-such-flag"});
  expect_failure(run_frugal({"logits", kF32, "--ids", "1"}), {"--out"});
  expect_failure(run_frugal({"logits", kF32, "--ids", "1", "--out", "/dev/null", "--attn", "weird"}), {"--attn"});
  expect_failure(run_frugal({"bogus"}), {"subcommand"});
  expect_failure(run_frugal({}), {"subcommand"});
  expect_failure(run_frugal({"random-model", "/dev/null/x", "--preset", "huge"}), {"--preset"});
  // --help is not an error.
  RunResult h = run_frugal({"generate", "--help"});
  expect_ok(h);
  EXPECT_TRUE(contains(h.out, "--max-tokens")) << h.out;
}

// main.cpp documents "1 = bad input or failure, 2 = bad command line".
TEST(CliBadInput, CommandLineErrorsExitWithCode2) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"generate", kF32, "--ids", "1", "--max-tokens", "-5"},
        std::vector<std::string>{"bogus"}, std::vector<std::string>{"generate", kF32},
        std::vector<std::string>{"generate", kF32, "--ids", "1", "--no-such-flag"},
        std::vector<std::string>{"generate", kF32, "--ids", "1", "--temperature", "abc"}}) {
    RunResult r = run_frugal(args);
    std::string cmd;
    for (const auto& a : args) cmd += " " + a;
    EXPECT_EQ(r.code(), 2) << "frugal" << cmd << "\n" << r.describe();
  }
}

// ---------------------------------------------------------------------------------------------
// Bad checkpoints: exit 1 naming the file, tensor or key.

TEST(CliBadCheckpoint, MissingDirectoryOrFiles) {
  TempDir dir;
  const std::string missing = dir.file("no_such_model");
  expect_input_error(run_frugal({"generate", missing, "--ids", "1"}), {missing});
  expect_input_error(run_frugal({"inspect", kF32 + "/config.json"}), {"config.json"});

  const std::string m = copy_model(kF32, dir.file("m"));
  fs::remove(m + "/config.json");
  expect_input_error(run_frugal({"inspect", m}), {"config.json"});

  const std::string m2 = copy_model(kF32, dir.file("m2"));
  fs::remove(m2 + "/model.safetensors");
  expect_input_error(run_frugal({"inspect", m2}), {m2});
}

TEST(CliBadCheckpoint, TruncatedSafetensors) {
  TempDir dir;
  const std::string m = copy_model(kF32, dir.file("m"));
  const std::string st = m + "/model.safetensors";
  const auto full = fs::file_size(st);
  for (uintmax_t size : {uintmax_t(full / 2), uintmax_t(full - 1), uintmax_t(7), uintmax_t(0)}) {
    copy_model(kF32, m);
    fs::resize_file(st, size);
    RunResult r = run_frugal({"generate", m, "--ids", "1,2", "--max-tokens", "2"});
    expect_input_error(r, {"model.safetensors"});
    EXPECT_TRUE(r.out.empty()) << "size " << size << ": " << r.out;
  }
}

TEST(CliBadCheckpoint, HugeHeaderLength) {
  TempDir dir;
  const std::string m = copy_model(kF32, dir.file("m"));
  const std::string st = m + "/model.safetensors";
  std::string bytes = slurp(st);
  for (uint64_t len : {~uint64_t(0), uint64_t(1) << 63, uint64_t(bytes.size()), uint64_t(bytes.size() - 8)}) {
    for (int i = 0; i < 8; ++i) bytes[size_t(i)] = char((len >> (8 * i)) & 0xff);
    spit(st, bytes);
    expect_input_error(run_frugal({"inspect", m}), {"model.safetensors"});
  }
}

TEST(CliBadCheckpoint, BadConfigValues) {
  TempDir dir;
  const std::string m = copy_model(kF32, dir.file("m"));
  const nlohmann::json good = read_json(m + "/config.json");

  nlohmann::json j = good;
  j["hidden_size"] = "64";
  write_json(m + "/config.json", j);
  expect_input_error(run_frugal({"inspect", m}), {"config.json", "hidden_size"});

  j = good;
  j.erase("kv_lora_rank");
  write_json(m + "/config.json", j);
  expect_input_error(run_frugal({"inspect", m}), {"config.json", "kv_lora_rank"});

  j = good;
  j["num_attention_heads"] = -4;
  write_json(m + "/config.json", j);
  expect_input_error(run_frugal({"inspect", m}), {"num_attention_heads"});

  spit(m + "/config.json", "{\"hidden_size\": 64,");
  expect_input_error(run_frugal({"inspect", m}), {"config.json"});

  spit(m + "/config.json", "[1, 2, 3]");
  expect_input_error(run_frugal({"inspect", m}), {"config.json"});
}

TEST(CliBadCheckpoint, ConfigDisagreesWithTheTensors) {
  TempDir dir;
  const std::string m = copy_model(kF32, dir.file("m"));
  const nlohmann::json good = read_json(m + "/config.json");

  // 4 layers while the checkpoint has 3 (+ the MTP module at index 3).
  nlohmann::json j = good;
  j["num_hidden_layers"] = 4;
  write_json(m + "/config.json", j);
  expect_input_error(run_frugal({"generate", m, "--ids", "1", "--max-tokens", "1"}), {"model.layers.3"});

  // A wider model than stored: a shape mismatch naming a tensor and its shapes.
  j = good;
  j["hidden_size"] = 128;
  write_json(m + "/config.json", j);
  expect_input_error(run_frugal({"inspect", m}), {"tensor '", "shape"});

  // A larger vocabulary than the embedding.
  j = good;
  j["vocab_size"] = 300;
  write_json(m + "/config.json", j);
  expect_input_error(run_frugal({"inspect", m}), {"model.safetensors", "300"});
}

TEST(CliBadCheckpoint, TensorWithTheWrongShape) {
  TempDir dir;
  const std::string m = copy_model(kF32, dir.file("m"));
  rewrite_checkpoint(m, [](const SafetensorsEntry& e, SafetensorsWriter& w, const Tensor&) {
    if (e.name != "model.norm.weight") return true;
    std::vector<float> v(65, 1.0f);
    w.add_raw(e.name, DType::kF32, {65}, v.data(), v.size() * 4);
    return false;
  });
  expect_input_error(run_frugal({"generate", m, "--ids", "1", "--max-tokens", "1"}),
                     {"model.safetensors", "model.norm.weight", "[65]", "[64]"});
}

TEST(CliBadCheckpoint, TensorWithTheWrongDtype) {
  TempDir dir;
  const std::string m = copy_model(kF32, dir.file("m"));
  rewrite_checkpoint(m, [](const SafetensorsEntry& e, SafetensorsWriter& w, const Tensor&) {
    if (e.name != "model.norm.weight") return true;
    std::vector<int32_t> v(64, 1);
    w.add_raw(e.name, DType::kI32, {64}, v.data(), v.size() * 4);
    return false;
  });
  expect_input_error(run_frugal({"inspect", m}), {"model.norm.weight", "I32"});
}

TEST(CliBadCheckpoint, MissingTensor) {
  TempDir dir;
  const std::string m = copy_model(kF32, dir.file("m"));
  rewrite_checkpoint(m, [](const SafetensorsEntry& e, SafetensorsWriter&, const Tensor&) {
    return e.name != "model.layers.1.self_attn.kv_a_proj_with_mqa.weight";
  });
  expect_input_error(run_frugal({"inspect", m}), {"model.layers.1.self_attn.kv_a_proj_with_mqa.weight", "missing"});
}

TEST(CliBadCheckpoint, ExtraUnknownTensor) {
  TempDir dir;
  const std::string m = copy_model(kF32, dir.file("m"));
  rewrite_checkpoint(
      m, [](const SafetensorsEntry&, SafetensorsWriter&, const Tensor&) { return true; },
      [](SafetensorsWriter& w) {
        std::vector<float> v(4, 0.5f);
        w.add_raw("model.layers.0.mystery.weight", DType::kF32, {2, 2}, v.data(), 16);
      });
  expect_input_error(run_frugal({"generate", m, "--ids", "1", "--max-tokens", "1"}),
                     {"model.layers.0.mystery.weight"});
}

TEST(CliBadCheckpoint, Fp8WeightWithoutItsScale) {
  TempDir dir;
  const std::string m = copy_model(kFixtures + "/micro_fp8", dir.file("m"));
  // The copy works before the edit.
  expect_ok(run_frugal({"generate", m, "--ids", "241,160", "--max-tokens", "2", "--temperature", "0"}));
  std::string removed;
  {
    SafetensorsFile f(m + "/model.safetensors");
    for (const auto& e : f.entries())
      if (e.name.size() > 10 && e.name.compare(e.name.size() - 10, 10, "_scale_inv") == 0 &&
          e.name.find("layers.1.") != std::string::npos) {
        removed = e.name;
        break;
      }
  }
  ASSERT_FALSE(removed.empty()) << "micro_fp8 has no _scale_inv tensors?";
  rewrite_checkpoint(m, [&](const SafetensorsEntry& e, SafetensorsWriter&, const Tensor&) { return e.name != removed; });
  const std::string weight = removed.substr(0, removed.size() - std::string("_scale_inv").size());
  expect_input_error(run_frugal({"generate", m, "--ids", "1", "--max-tokens", "1"}), {removed, weight});
}

TEST(CliBadCheckpoint, Fp8ScaleWithTheWrongShape) {
  TempDir dir;
  const std::string m = copy_model(kFixtures + "/micro_fp8", dir.file("m"));
  std::string target;
  rewrite_checkpoint(m, [&](const SafetensorsEntry& e, SafetensorsWriter& w, const Tensor& t) {
    if (!target.empty() || e.name.find("_scale_inv") == std::string::npos || t.dim() != 2) return true;
    target = e.name;
    Shape s = e.shape;
    s[0] += 1;
    std::vector<float> v(size_t(shape_numel(s)), 1.0f);
    w.add_raw(e.name, DType::kF32, s, v.data(), v.size() * 4);
    return false;
  });
  ASSERT_FALSE(target.empty());
  expect_input_error(run_frugal({"inspect", m}), {target});
}

namespace {

// --check-tensors scans the weights while loading: a NaN in a matrix is reported with the tensor
// and the element; without the flag the load stays fast (no scan).
TEST(CliBadCheckpoint, NonFiniteWeightWithCheckTensors) {
  TempDir dir;
  const std::string m = copy_model(kF32, dir.file("m"));
  rewrite_checkpoint(m, [](const SafetensorsEntry& e, SafetensorsWriter& w, const Tensor& t) {
    if (e.name != "model.layers.1.self_attn.o_proj.weight") return true;
    Tensor c = t.contiguous();
    c.data_as<float>()[5] = std::numeric_limits<float>::quiet_NaN();
    w.add(e.name, c);
    return false;
  });
  expect_input_error(run_frugal({"inspect", "--check-tensors", m}),
                     {"model.layers.1.self_attn.o_proj.weight", "non-finite", "[0, 5]"});
  expect_ok(run_frugal({"inspect", m}));
}

}  // namespace

namespace {

// A byte-level tokenizer whose 256 ids are the 256 bytes (no merges) fits the micro model's
// vocabulary, so --prompt can be checked end to end: the same ids as --ids with the prompt's bytes,
// and the streamed text is the decoding of those ids.
TEST(CliGenerate, PromptThroughATokenizer) {
  TempDir dir;
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[frugal::tok::bytes_to_symbols(std::string(1, char(b)))] = b;
  nlohmann::json tok = {
      {"version", "1.0"}, {"added_tokens", nlohmann::json::array()}, {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}};
  write_json(dir.file("tokenizer.json"), tok);
  const std::string prompt = "hi!";  // bytes 104, 105, 33
  RunResult by_text = run_frugal({"generate", kF32, "--prompt", prompt, "--tokenizer", dir.file("tokenizer.json"),
                                  "--max-tokens", "5", "--temperature", "0", "--ignore-eos", "--json"});
  RunResult by_ids = run_frugal({"generate", kF32, "--ids", "104,105,33", "--max-tokens", "5", "--temperature", "0",
                                 "--ignore-eos", "--json"});
  expect_ok(by_text);
  expect_ok(by_ids);
  EXPECT_EQ(by_text.out, by_ids.out);
  // Without --json the continuation streams as text: the tokenizer's decoding of the generated ids
  // (random bytes here, so mostly U+FFFD, exactly as Hugging Face decodes them).
  RunResult text = run_frugal({"generate", kF32, "--prompt", prompt, "--tokenizer", dir.file("tokenizer.json"),
                               "--max-tokens", "5", "--temperature", "0", "--ignore-eos"});
  expect_ok(text);
  const std::string want = frugal::Tokenizer::load(dir.file("tokenizer.json")).decode(parse_ids_json(by_ids.out), true);
  EXPECT_EQ(text.out, want + "\n");
  // A tokenizer whose ids do not fit the model is a clean error naming the id.
  expect_input_error(run_frugal({"generate", kF32, "--prompt", "Hello", "--tokenizer",
                                 FRUGAL_TEST_DATA "/tokenizer/deepseek_v3/tokenizer.json.gz", "--max-tokens", "2"}),
                     {"outside the vocabulary"});
}

}  // namespace
