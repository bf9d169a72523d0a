// tokenizer_config.json: the input is the file's text. A chat template it carries is parsed and
// rendered with a short conversation, as `frugal serve` does when it loads the model.
#include "fuzz_util.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer_config.h"

using namespace frugal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::run_guarded([&] {
    const TokenizerConfig c = TokenizerConfig::from_json_text(fuzz::as_text(data, size), "tokenizer_config.json");
    if (c.chat_template.empty()) return;
    const ChatTemplate t(c.chat_template);
    ChatRequest r;
    r.messages = nlohmann::ordered_json::parse(R"([{"role":"system","content":"Be brief."},
        {"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"},{"role":"user","content":"2+2?"}])");
    r.add_generation_prompt = true;
    ChatTemplateLimits lim;  // smaller than serving's, so a looping template costs milliseconds
    lim.max_steps = 100'000;
    lim.max_output_bytes = 1u << 20;
    lim.max_list_items = 1u << 16;
    volatile size_t sink = render_chat(t, c, r, lim).size();
    (void)sink;
  });
  return 0;
}
