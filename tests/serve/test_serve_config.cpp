// ServeConfig (serve/serve_config.h): the flags `frugal serve` has always had, TOML sections,
// precedence, errors naming the file and field; and `frugal serve --config FILE.toml` end to end.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <set>
#include <thread>

#include "serve/http_lib.h"
#include "serve/http_server.h"
#include "serve/serve_config.h"
#include "test_util.h"

extern char** environ;

namespace frugal::test {
namespace {

const std::string kModelDir = FRUGAL_TEST_DATA "/fixtures/micro_f32";
const std::string kTokDir = FRUGAL_TEST_DATA "/serve/byte_v3";

ServeConfig load_text(const TempDir& dir, const std::string& toml, const std::vector<std::string>& ov = {}) {
  const std::string path = dir.file("serve.toml");
  write_bytes(path, toml);
  return load_serve_config(&path, ov);
}

std::string flag_of(const std::string& flag, const std::string& value = {}) {
  for (const CliFlag& f : serve_cli_flags())
    if (f.flag == flag) return flag_override(f, value);
  ADD_FAILURE() << "no flag --" << flag;
  return "";
}

TEST(ServeConfig, DefaultsAreTheServersAndTheOldFlags) {
  const ServeConfig c = load_serve_config(nullptr, {});
  const serve::ServerOptions so;
  const serve::RequestLimits limits;
  EXPECT_EQ(c.server.host, so.host);
  EXPECT_EQ(c.server.port, so.port);
  EXPECT_EQ(c.engine.max_batch, so.max_batch);
  EXPECT_EQ(c.engine.max_queue, so.max_queue);
  EXPECT_EQ(c.limits.max_n, limits.max_n);
  EXPECT_EQ(c.limits.max_body_bytes, limits.max_body_bytes);
  // The resource model's defaults are the server's (docs/serving.md, Resource model).
  EXPECT_EQ(c.server.max_connections, so.max_connections);
  EXPECT_EQ(c.server.header_timeout, so.header_timeout);
  EXPECT_EQ(c.server.idle_timeout, so.idle_timeout);
  EXPECT_EQ(c.server.body_timeout, so.body_timeout);
  EXPECT_EQ(c.server.write_timeout, so.write_timeout);
  EXPECT_EQ(c.limits.max_prompt_bytes, limits.max_prompt_bytes);
  EXPECT_EQ(c.limits.max_prompt_tokens, limits.max_prompt_tokens);
  EXPECT_EQ(c.limits.max_output_tokens, limits.max_output_tokens);
  EXPECT_EQ(c.limits.request_timeout, limits.request_timeout);
  // The defaults `frugal serve --help` showed before the flags came from this table.
  EXPECT_EQ(c.server.http_threads, 0);
  EXPECT_EQ(c.server.drain_seconds, 10.0);
  EXPECT_EQ(c.engine.ctx, 0);
  EXPECT_EQ(c.engine.prefill_chunk, 512);
  EXPECT_EQ(c.engine.prefix_cache_tokens, 65536);
  EXPECT_EQ(c.engine.kv_cache_dtype, "f32");
  EXPECT_EQ(c.model.reasoning_parser, "auto");
  EXPECT_FALSE(c.server.log_requests);
  EXPECT_FALSE(c.model.check_tensors);
  EXPECT_TRUE(c.model.dir.empty());
}

TEST(ServeConfig, EveryFlagOfServeExists) {
  std::set<std::string> keys, flags;
  ServeConfig c;
  for (const OptionField& f : serve_options(c).fields()) keys.insert(f.key);
  for (const CliFlag& f : serve_cli_flags()) {
    EXPECT_TRUE(keys.count(f.key)) << f.flag << " -> " << f.key;
    EXPECT_TRUE(flags.insert(f.flag).second) << "duplicate flag " << f.flag;
  }
  for (const char* f : {"tokenizer",
                        "host",
                        "port",
                        "api-key",
                        "api-key-file",
                        "max-batch",
                        "max-queue",
                        "ctx",
                        "kv-cache-dtype",
                        "prefill-chunk",
                        "prefix-cache-tokens",
                        "reasoning-parser",
                        "max-n",
                        "max-top-logprobs",
                        "max-stop-strings",
                        "max-body-bytes",
                        "http-threads",
                        "drain-seconds",
                        "log-requests",
                        "check-tensors",
                        "max-connections",
                        "header-timeout",
                        "idle-timeout",
                        "body-timeout",
                        "write-timeout",
                        "allowed-hosts",
                        "allowed-origins",
                        "max-prompt-bytes",
                        "max-prompt-tokens",
                        "max-output-tokens",
                        "request-timeout"})
    EXPECT_TRUE(flags.count(f)) << "--" << f;
  EXPECT_EQ(flags.size(), 31u);
  for (const CliFlag& f : serve_cli_flags())
    if (f.flag == "log-requests" || f.flag == "check-tensors")
      EXPECT_EQ(f.kind, CliFlag::Kind::kSetTrue) << f.flag;
    else
      EXPECT_EQ(f.kind, CliFlag::Kind::kValue) << f.flag;
}

TEST(ServeConfig, TomlSectionsAndPrecedence) {
  TempDir dir;
  const std::string toml = R"(
[model]
dir = "models/m"
tokenizer = "tok/tokenizer.json"
reasoning_parser = "none"
[server]
host = "0.0.0.0"
port = 9000
api_key_file = "keys.txt"
drain_seconds = 2
log_requests = true
[engine]
max_batch = 16
max_queue = 100
ctx = 2048
prefill_chunk = 128
prefix_cache_tokens = 0
[limits]
max_n = 2
max_body_bytes = 65536
)";
  // What cmd_serve does: generic --section.key=value overrides, then the dedicated flags.
  std::vector<std::string> ov = parse_dotted_overrides({"--engine.max_batch=32", "--server.port=9001"});
  ov.push_back(flag_of("max-batch", "4"));
  ov.push_back(flag_of("check-tensors"));
  const ServeConfig c = load_text(dir, toml, ov);
  EXPECT_EQ(c.engine.max_batch, 4);    // flag > override > toml
  EXPECT_EQ(c.server.port, 9001);      // override > toml
  EXPECT_EQ(c.engine.max_queue, 100);  // toml > default
  EXPECT_TRUE(c.model.check_tensors);
  EXPECT_EQ(c.model.dir, "models/m");
  EXPECT_EQ(c.model.tokenizer, "tok/tokenizer.json");
  EXPECT_EQ(c.model.reasoning_parser, "none");
  EXPECT_EQ(c.server.host, "0.0.0.0");
  EXPECT_EQ(c.server.api_key_file, "keys.txt");
  EXPECT_EQ(c.server.drain_seconds, 2.0);
  EXPECT_TRUE(c.server.log_requests);
  EXPECT_EQ(c.engine.ctx, 2048);
  EXPECT_EQ(c.engine.prefill_chunk, 128);
  EXPECT_EQ(c.engine.prefix_cache_tokens, 0);
  EXPECT_EQ(c.limits.max_n, 2);
  EXPECT_EQ(c.limits.max_body_bytes, 65536);
  EXPECT_EQ(c.limits.max_top_logprobs, serve::RequestLimits().max_top_logprobs);
}

TEST(ServeConfig, UnknownKeysAndBadValuesNameFileAndField) {
  TempDir dir;
  expect_error([&] { load_text(dir, "[engine]\nmax_bacth = 4\n"); }, ErrorKind::kConfig,
               {"serve.toml:2", "unknown key 'engine.max_bacth'", "did you mean 'engine.max_batch'"});
  expect_error([&] { load_text(dir, "[server]\nmax_batch = 4\n"); }, ErrorKind::kConfig,
               {"serve.toml:2", "did you mean 'engine.max_batch'"});
  expect_error([&] { load_text(dir, "[sever]\nport = 1\n"); }, ErrorKind::kConfig,
               {"serve.toml:1", "unknown section 'sever'", "did you mean '[server]'"});
  expect_error([&] { load_text(dir, "port = 1\n"); }, ErrorKind::kConfig, {"outside any [section]", "under [server]"});
  expect_error([&] { load_text(dir, "[server]\nport = 70000\n"); }, ErrorKind::kConfig,
               {"serve.toml:2", "server.port = 70000", "must be in [0, 65535]"});
  expect_error([&] { load_text(dir, "[engine]\nmax_batch = \"8\"\n"); }, ErrorKind::kConfig,
               {"engine.max_batch = \"8\"", "expected an integer"});
  expect_error([&] { load_text(dir, "[engine]\nkv_cache_dtype = \"bf16\"\n"); }, ErrorKind::kConfig,
               {"engine.kv_cache_dtype", "allowed values: f32"});
  expect_error([&] { load_text(dir, "[model]\nreasoning_parser = \"r1\"\n"); }, ErrorKind::kConfig,
               {"model.reasoning_parser", "auto|deepseek_r1|none"});
  expect_error([&] { load_text(dir, "[limits]\nmax_body_bytes = 10\n"); }, ErrorKind::kConfig,
               {"limits.max_body_bytes = 10", "must be in [1024, 1073741824]"});
  expect_error([&] { load_serve_config(nullptr, {"engine.prefill_chunk=0"}); }, ErrorKind::kConfig,
               {"engine.prefill_chunk = '0'", "must be >= 1"});
  expect_error([&] { load_serve_config(nullptr, {"server.drain_seconds=-1"}); }, ErrorKind::kConfig,
               {"server.drain_seconds", "must be >= 0"});
}

// ---- the binary ----

std::string frugal_serve() { return std::string(FRUGAL_BINARY) + " serve"; }

// `frugal serve ARGS` in the background with stderr in a file; stopped with SIGTERM.
class ServeProcess {
 public:
  ServeProcess(const TempDir& dir, std::vector<std::string> args) : log_(dir.file("serve.log")) {
    args.insert(args.begin(), {FRUGAL_BINARY, "serve"});
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_EQ(posix_spawn(&pid_, FRUGAL_BINARY, &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
  }
  ~ServeProcess() { stop(); }

  // Waits for the "ready" line (or the process ending); returns the log so far.
  std::string wait_ready() {
    for (int i = 0; i < 600; ++i) {
      const std::string log = read_bytes(log_);
      if (log.find("frugal serve: ready") != std::string::npos) return log;
      if (waitpid(pid_, &status_, WNOHANG) == pid_) {
        pid_ = -1;
        return read_bytes(log_);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return read_bytes(log_);
  }
  // SIGTERM and the exit status (-1 if it did not exit normally).
  int stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, &status_, 0);
      pid_ = -1;
    }
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  }
  std::string log() const { return read_bytes(log_); }

 private:
  std::string log_;
  pid_t pid_ = -1;
  int status_ = 0;
};

TEST(ServeConfig, ServeStartsWithTheConfigFileSettings) {
  if (!std::filesystem::exists(FRUGAL_BINARY)) GTEST_SKIP() << "frugal binary not built";
  TempDir dir;
  const std::string path = dir.file("serve.toml");
  write_bytes(path, "[model]\ndir = \"" + kModelDir + "\"\ntokenizer = \"" + kTokDir +
                        "\"\n[server]\nport = 0\nhost = \"127.0.0.1\"\nallowed_hosts = \"gpu.lan, *.corp\"\n"
                        "[engine]\nmax_batch = 3\nctx = 100\n[limits]\nmax_body_bytes = 2048\n");
  // --max-batch beats the file's max_batch; the file's ctx and body limit hold.
  ServeProcess p(dir, {"--config", path, "--max-batch", "5"});
  const std::string log = p.wait_ready();
  ASSERT_NE(log.find("ready: model 'micro_f32', context 100, max batch 5"), std::string::npos) << log;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex("listening on http://127\\.0\\.0\\.1:([0-9]+)"))) << log;
  httplib::Client c("127.0.0.1", std::stoi(m[1]));
  c.set_read_timeout(30, 0);
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(nlohmann::json::parse(models->body)["data"][0]["max_model_len"], 100) << models->body;
  auto big = c.Post("/v1/completions", std::string(4096, ' '), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);  // [limits] max_body_bytes
  EXPECT_EQ(c.Get("/v1/models", {{"Host", "gpu.lan:8080"}})->status, 200);  // [server] allowed_hosts
  EXPECT_EQ(c.Get("/v1/models", {{"Host", "a.corp"}})->status, 200);
  EXPECT_EQ(c.Get("/v1/models", {{"Host", "evil.example"}})->status, 421);
  EXPECT_EQ(p.stop(), 0) << p.log();
}

TEST(ServeConfig, ServeConfigErrors) {
  if (!std::filesystem::exists(FRUGAL_BINARY)) GTEST_SKIP() << "frugal binary not built";
  TempDir dir;
  const std::string path = dir.file("bad.toml");
  write_bytes(path, "[engine]\nmax_bacth = 4\n");
  // A bad file is bad input (1), naming the file and the likely key.
  CommandResult r = run_command(frugal_serve() + " " + kModelDir + " --config " + path + " 2>&1");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("bad.toml:2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("did you mean 'engine.max_batch'"), std::string::npos) << r.out;
  // A bad command line is a usage error (2), naming the argument and the field.
  r = run_command(frugal_serve() + " " + kModelDir + " --engine.max_batch=0 2>&1");
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("--engine.max_batch: engine.max_batch = '0': must be in [1, 4096]"), std::string::npos) << r.out;
  r = run_command(frugal_serve() + " " + kModelDir + " --max-batch 0 2>&1");
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("--max-batch"), std::string::npos) << r.out;
  r = run_command(frugal_serve() + " " + kModelDir + " --engine.max_batch 4 2>&1");  // the space form
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("--section.key=value"), std::string::npos) << r.out;
  r = run_command(frugal_serve() + " " + kModelDir + " --no-such-flag 2>&1");
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("--no-such-flag"), std::string::npos) << r.out;
  // Without MODEL_DIR and without [model] dir.
  write_bytes(path, "[engine]\nmax_batch = 4\n");
  r = run_command(frugal_serve() + " --config " + path + " 2>&1");
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("MODEL_DIR is required"), std::string::npos) << r.out;
  // --help lists the flags and --config.
  r = run_command(frugal_serve() + " --help");
  EXPECT_EQ(r.rc, 0);
  for (const char* f : {"--config", "--port", "--max-batch", "--kv-cache-dtype", "--log-requests", "MODEL_DIR"})
    EXPECT_NE(r.out.find(f), std::string::npos) << f;
}

}  // namespace
}  // namespace frugal::test
