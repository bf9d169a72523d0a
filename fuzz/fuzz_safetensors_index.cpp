// model.safetensors.index.json of a sharded checkpoint: the input is the index; the directory also
// holds two small valid shards (model-00001-of-00002.safetensors with tensors "a" and "b",
// model-00002-of-00002.safetensors with "c"), so an index can name real shards, missing ones,
// paths that leave the directory, or tensors in the wrong shard.
#include "fuzz_util.h"
#include "io/safetensors.h"

using namespace frugal;

namespace {

std::string shard(const std::vector<std::string>& names) {
  SafetensorsWriter w;
  for (size_t i = 0; i < names.size(); ++i) {
    const float v[3] = {float(i), 1.5f, -2.0f};
    w.add_raw(names[i], DType::kF32, {int64_t(1 + i)}, v, (1 + i) * sizeof(float));
  }
  return w.serialize();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir scratch;
  static const std::string dir = [] {
    const std::string d = scratch.mkdir("ckpt");
    scratch.put("ckpt/model-00001-of-00002.safetensors", shard({"a", "b"}));
    scratch.put("ckpt/model-00002-of-00002.safetensors", shard({"c"}));
    scratch.put("outside.safetensors", shard({"x"}));  // reachable only through "../"
    return d;
  }();
  scratch.put("ckpt/model.safetensors.index.json", fuzz::as_text(data, size));
  fuzz::run_guarded([&] {
    WeightStore ws(dir);
    volatile int64_t sink = ws.total_bytes();
    for (const std::string& name : ws.names()) sink = sink + int64_t(ws.get(name).nbytes()) + ws.file_of(name).size();
  });
  return 0;
}
