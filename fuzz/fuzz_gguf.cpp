// GGUF files (core/gguf.h, io/gguf_model.h): the input is a whole .gguf. A file the reader accepts
// must describe key/values and tensors that lie inside it: every string, array and tensor byte is
// read end to end (a view past the mapping is an ASan report); then the deepseek2 mapping and the
// loader bind it as a model, which must end in a model or a frugal::Error.
#include "core/gguf.h"
#include "fuzz_util.h"
#include "io/gguf_model.h"

using namespace frugal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir dir;
  const std::string path = dir.put("model.gguf", fuzz::as_text(data, size));
  fuzz::run_guarded([&] {
    GgufFile f(path);
    volatile uint64_t sink = 0;
    for (const auto& [k, v] : f.metadata()) {
      sink = sink + k.size() + v.str.size();
      for (std::string_view s : v.strs) sink = sink + (s.empty() ? 0 : uint8_t(s.back()));
      if (v.raw && v.count) sink = sink + uint64_t(v.int_at(v.count - 1)) + uint64_t(v.float_at(0) != 0);
    }
    for (const GgufTensor& t : f.tensors())
      for (uint64_t i = 0; i < t.nbytes; i += 61) sink = sink + t.data[i] + t.data[t.nbytes - 1];
  });
  fuzz::run_guarded([&] {
    auto m = load_gguf_model(path);
    volatile float sink = 0;
    if (!m->weights.norm.empty()) sink = sink + m->weights.norm.back();
  });
  return 0;
}
