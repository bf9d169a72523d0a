// config.json of a Hugging Face checkpoint: the input is the file. An accepted config must survive
// the round trip through hf_config_to_json (the writer must not produce something the reader refuses).
#include "fuzz_util.h"
#include "io/hf_config.h"

using namespace frugal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir dir;
  const std::string path = dir.put("config.json", fuzz::as_text(data, size));
  fuzz::run_guarded([&] {
    const DeepSeekConfig c = load_hf_config(path);
    const DeepSeekConfig back = parse_hf_config(hf_config_to_json(c), "round trip");
    if (hf_config_to_json(back) != hf_config_to_json(c)) fuzz::bug("round trip", "config", path.c_str());
  });
  return 0;
}
