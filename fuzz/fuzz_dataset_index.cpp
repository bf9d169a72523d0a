// index.json of a prepared data directory (src/data/dataset_index.h): the input is the index. The
// directory also holds two valid shards, train_00000.bin (10 tokens, vocab 300, EOS 1) and
// val_00000.bin (4 tokens), so the index can agree with them, disagree, or name files that are
// missing or outside the directory. Both splits are opened and read end to end.
#include "data/dataset_index.h"
#include "data/shard_format.h"
#include "data/token_source.h"
#include "fuzz_util.h"

using namespace frugal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir scratch;
  static const std::string dir = [] {
    const std::string d = scratch.mkdir("data");
    const int32_t train[10] = {5, 6, 7, 1, 8, 299, 9, 1, 0, 1}, val[4] = {3, 4, 1, 2};
    data::shard_write(d + "/train_00000.bin", train, 10, 300, 1, 3);
    data::shard_write(d + "/val_00000.bin", val, 4, 300, 1, 1);
    scratch.put("outside.bin", "FRGLTOK");
    return d;
  }();
  scratch.put("data/index.json", fuzz::as_text(data, size));
  for (data::Split split : {data::Split::kTrain, data::Split::kVal}) {
    fuzz::run_guarded([&] {
      const data::TokenSource s = data::TokenSource::open(dir, split);
      std::vector<int32_t> ids(size_t(s.size()));
      s.read(0, s.size(), ids.data());
      volatile size_t sink = s.describe().size();
      (void)sink;
    });
  }
  return 0;
}
