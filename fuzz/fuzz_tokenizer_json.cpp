// tokenizer.json: the input is the file's text. A tokenizer that loads is then used — a fixed text
// with special-token markers is encoded and decoded, and every id up to a bound is decoded — so
// tables that load but disagree with each other show up here, not in a user's request.
#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

using namespace frugal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::run_guarded([&] {
    const Tokenizer tok = Tokenizer::from_json_text(fuzz::as_text(data, size), "tokenizer.json");
    const std::string text = "Hello, world! <｜begin▁of▁sentence｜>12 345 \xe4\xb8\xad\xe6\x96\x87 \t\n\xf0\x9f\x98\x80 <s>";
    const std::vector<int32_t> ids = tok.encode(text, true);
    volatile size_t sink = tok.decode(ids, false).size() + tok.decode(ids, true).size();
    std::vector<int32_t> all;
    for (int32_t id = 0; id < tok.vocab_size() && id < 512; ++id) {
      all.push_back(id);
      if (auto t = tok.id_to_token(id)) sink = sink + t->size() + tok.token_to_id(*t).value_or(0);
    }
    sink = sink + tok.decode(all, false).size() + tok.pre_tokenize(text).size();
  });
  return 0;
}
