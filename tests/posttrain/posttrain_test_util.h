// Model folders for the post-training tests: random checkpoints (io/random_model.h) with a
// tokenizer copied from tests/data, and a runner of the frugal binary.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "io/random_model.h"
#include "test_util.h"

namespace frugal::test {

// A micro model (vocab 256, fixture shape) with the byte-level test tokenizer `tokenizer`
// ("byte_v3": the DeepSeek-V3 chat template; "byte_r1": an R1-style one that pre-fills <think>;
// "": no tokenizer files at all). With config = false only tokenizer.json is copied.
inline std::string micro_model_with_tokenizer(const TempDir& dir, const std::string& name, const std::string& tokenizer,
                                              bool config = true, uint64_t seed = 0) {
  namespace fs = std::filesystem;
  const std::string out = dir.file(name);
  RandomModelOptions opt;
  opt.seed = seed;
  write_random_model(out, random_model_preset("micro"), opt);
  if (!tokenizer.empty()) {
    const std::string src = std::string(FRUGAL_TEST_DATA) + "/serve/" + tokenizer;
    fs::copy_file(src + "/tokenizer.json", out + "/tokenizer.json");
    if (config) fs::copy_file(src + "/tokenizer_config.json", out + "/tokenizer_config.json");
  }
  return out;
}

// A micro model with the DeepSeek-V3 tokenizer's full 129,280-entry vocabulary (bf16 weights,
// ~34 MB) and its tokenizer_config.json (the V3 chat template).
inline std::string v3_vocab_model(const TempDir& dir, const std::string& name) {
  namespace fs = std::filesystem;
  const std::string m = dir.file(name);
  DeepSeekConfig cfg = random_model_preset("micro");
  cfg.vocab_size = 129280;
  RandomModelOptions opt;
  opt.dtype = DType::kBF16;
  write_random_model(m, cfg, opt);
  const std::string src = std::string(FRUGAL_TEST_DATA) + "/tokenizer/deepseek_v3";
  fs::copy_file(src + "/tokenizer.json.gz", m + "/tokenizer.json.gz");
  fs::copy_file(src + "/tokenizer_config.json", m + "/tokenizer_config.json");
  return m;
}

// Runs `frugal ARGS...` (arguments must not need shell quoting), stdout and stderr together.
inline CommandResult run_frugal(const std::vector<std::string>& args) {
  std::string cmd = FRUGAL_BINARY;
  for (const std::string& a : args) cmd += " '" + a + "'";
  return run_command(cmd + " 2>&1");
}

}  // namespace frugal::test
