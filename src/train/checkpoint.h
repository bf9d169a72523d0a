// Training checkpoints (docs/training.md, Checkpoints and resume): crash-safe, verified, resumable bit for bit.
//
// Layout under RUN_DIR/ckpt/:
//   step_00001000/state.safetensors  every f32 tensor the caller passes (weights, optimizer moments,
//                                    routing biases, ...), bytes exactly as in memory
//   step_00001000/meta.json          {"format": "frugal-checkpoint", "version": 1, "step": 1000,
//                                     "files": {"state.safetensors": {"bytes": N, "crc32": "89abcdef"}},
//                                     "meta": <the caller's JSON>, "meta_crc32": crc32 of meta.dump()}
//   latest                           "step_00001000\n"
//
// Commit protocol (a crash at any point leaves the previous checkpoint usable):
//   write step_N.tmp/{state.safetensors, meta.json}, fsync each file and the directory, rename
//   step_N.tmp -> step_N, fsync ckpt/, then replace `latest` atomically (temp + rename + fsync).
//   Only then are older checkpoints deleted (keep_last). A directory ending in ".tmp" is never a
//   checkpoint; leftovers from a killed save are removed by the next save.
//
// Loading trusts nothing: it follows `latest` (or, when `latest` is missing or garbage, the newest
// step_N directory), checks sizes and CRC-32s of every file and the caller's meta, and on any
// problem records a warning naming the file and the problem and falls back to the next older one.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"

namespace frugal {

class SafetensorsFile;

// A named f32 tensor to save; `data` holds shape_numel(shape) floats and must stay valid during the call.
struct CheckpointTensor {
  std::string name;
  Shape shape;
  const float* data = nullptr;
};

// Writes checkpoint `step` of the run in `run_dir` (creating RUN_DIR/ckpt), then keeps the
// `keep_last` newest checkpoints with step <= `step` (keep_last <= 0 keeps all). Checkpoints newer
// than `step` (left by a run that was resumed from an older one) are never deleted here.
// Re-saving an existing step replaces it. Throws Error(kIo) naming the file on any write failure
// (disk full: "No space left on device" / "File too large"); the previous checkpoints stay usable.
// Throws Error(kInvalidArgument) for duplicate/empty names, negative shapes or a null data pointer.
void save_checkpoint(const std::string& run_dir, int64_t step, const std::vector<CheckpointTensor>& tensors,
                     const nlohmann::json& meta, int keep_last);

struct LoadedCheckpoint {
  int64_t step = 0;
  std::string dir;                          // RUN_DIR/ckpt/step_%08d
  nlohmann::json meta;                      // the caller's JSON as saved
  std::vector<std::string> warnings;        // fallbacks taken (file + problem); the caller prints them
  std::shared_ptr<SafetensorsFile> state;   // verified, memory-mapped

  bool has(const std::string& name) const;
  std::vector<std::string> names() const;   // in file order
  const Shape& shape(const std::string& name) const;  // throws kFormat naming checkpoint + tensor
  // Zero-copy view of a saved tensor (valid while `state` lives); throws kFormat naming the
  // checkpoint and tensor when it is missing or when `expected_numel` (>= 0) differs from its size.
  std::span<const float> f32(const std::string& name, int64_t expected_numel = -1) const;
  // Copies a saved tensor into `dst` (n floats), checking the size.
  void copy_to(const std::string& name, float* dst, int64_t n) const;
};

// The newest valid checkpoint of `run_dir`, or nullopt when RUN_DIR/ckpt holds none at all
// (no step directory and no `latest`). Throws Error(kFormat) naming RUN_DIR/ckpt and each
// checkpoint's problem when checkpoints exist but none is valid.
std::optional<LoadedCheckpoint> load_latest_checkpoint(const std::string& run_dir);

// Loads and verifies one specific step (for `--resume <step>`); throws naming the file and problem.
LoadedCheckpoint load_checkpoint(const std::string& run_dir, int64_t step);

// Checks one step directory completely (sizes, checksums, meta, safetensors header); returns the
// problem ("state.safetensors: truncated: ...") or nullopt when it is valid. Used by load and tests.
std::optional<std::string> verify_checkpoint_dir(const std::string& step_dir);

// "step_%08d"
std::string checkpoint_dir_name(int64_t step);
// Steps of the complete-looking step_%08d directories under RUN_DIR/ckpt, ascending (not verified).
std::vector<int64_t> list_checkpoint_steps(const std::string& run_dir);

}  // namespace frugal
