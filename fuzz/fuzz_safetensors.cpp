// safetensors files: the input is a whole file (u64 header length, JSON header, data). A file the
// reader accepts must describe tensors that lie inside it: every tensor view is read end to end,
// so a view past the mapping is an ASan report.
#include "fuzz_util.h"
#include "io/safetensors.h"

using namespace frugal;

namespace {

uint64_t touch(const Tensor& t) {
  const auto* p = static_cast<const uint8_t*>(t.data());
  uint64_t sum = 0;
  for (size_t i = 0; i < t.nbytes(); ++i) sum += p[i];
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir dir;
  const std::string path = dir.put("model.safetensors", fuzz::as_text(data, size));
  fuzz::run_guarded([&] {
    SafetensorsFile f(path);
    volatile uint64_t sink = 0;
    for (const SafetensorsEntry& e : f.entries()) sink = sink + touch(f.tensor(e.name));
    for (const auto& [k, v] : f.metadata()) sink = sink + k.size() + v.size();
  });
  return 0;
}
