// NumPy .npy files: the input is a whole file, read by npy_read and, as token data, by
// TokenSource (1-D integer vectors; `frugal train --data x.npy`). An array that loads is read end
// to end, so a tensor smaller than its shape says is an ASan report.
#include "data/token_source.h"
#include "fuzz_util.h"
#include "io/npy.h"

using namespace frugal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir dir;
  const std::string path = dir.put("ids.npy", fuzz::as_text(data, size));
  fuzz::run_guarded([&] {
    const Tensor t = npy_read(path);
    const auto* p = static_cast<const uint8_t*>(t.data());
    volatile uint64_t sink = 0;
    for (size_t i = 0; i < t.nbytes(); ++i) sink = sink + p[i];
    // What the writer makes of it must read back the same (for the dtypes it writes).
    if (t.dtype() == DType::kF32 || t.dtype() == DType::kI32 || t.dtype() == DType::kI64) {
      const std::string again = dir.put("again.npy", npy_serialize(t));
      const Tensor u = npy_read(again);
      if (u.shape() != t.shape() || u.nbytes() != t.nbytes() || (t.nbytes() && std::memcmp(u.data(), t.data(), t.nbytes())))
        fuzz::bug("npy round trip", "npy", "npy_serialize(npy_read(x)) reads back differently");
    }
  });
  fuzz::run_guarded([&] {
    const data::TokenSource s = data::TokenSource::open(path);
    std::vector<int32_t> ids(size_t(s.size()));
    s.read(0, s.size(), ids.data());
  });
  return 0;
}
