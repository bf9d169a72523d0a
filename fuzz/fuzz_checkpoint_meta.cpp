// meta.json of a training checkpoint (src/train/checkpoint.h): the input is the meta.json of
// RUN/ckpt/step_00000001, whose state.safetensors is a valid two-tensor file; `latest` names that
// step. load_latest_checkpoint must either load it or refuse with an error naming the problem.
#include "fuzz_util.h"
#include "train/checkpoint.h"

using namespace frugal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir scratch;
  static const std::string run = [] {
    const std::string r = scratch.mkdir("run");
    const float w[6] = {1, 2, 3, 4, 5, 6}, m[2] = {0.5f, -0.5f};
    save_checkpoint(r, 1, {{"w", {2, 3}, w}, {"adam.m", {2}, m}}, nlohmann::json{{"seed", 7}}, 0);
    return r;
  }();
  scratch.put("run/ckpt/step_00000001/meta.json", fuzz::as_text(data, size));
  fuzz::run_guarded([&] {
    const std::optional<LoadedCheckpoint> ck = load_latest_checkpoint(run);
    if (!ck) fuzz::bug("checkpoint loader", "nullopt", "a run with a checkpoint directory reported none");
    volatile size_t sink = ck->meta.dump().size();
    for (const std::string& name : ck->names()) sink = sink + ck->f32(name).size();
  });
  return 0;
}
