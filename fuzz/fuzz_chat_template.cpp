// Chat templates and their messages: the input is a Jinja template, then (optionally) a NUL byte
// and a chat request as JSON ({"messages": [...], "tools": [...], "add_generation_prompt": ...,
// "chat_template_kwargs": {...}}), as `frugal chat-template --jsonl` reads it. Without a NUL, or
// when the request is not valid JSON, a fixed conversation is rendered. The limits are smaller
// than serving's (docs/fuzzing.md) so that a template that loops costs milliseconds, not seconds;
// a hang that the step limit does not catch shows up either way.
#include "fuzz_util.h"
#include "tokenizer/chat_template.h"

using namespace frugal;
using ojson = nlohmann::ordered_json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = fuzz::as_text(data, size);
  const size_t nul = in.find('\0');
  const std::string_view source = in.substr(0, nul);
  ojson request = ojson::parse(R"({"messages": [{"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello", "tool_calls": [
      {"type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}}]},
      {"role": "tool", "content": "42"}], "add_generation_prompt": true})");
  if (nul != std::string_view::npos) {
    const std::string_view rest = in.substr(nul + 1);
    ojson j = ojson::parse(rest.begin(), rest.end(), nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) request = std::move(j);
  }
  fuzz::run_guarded([&] {
    const ChatTemplate t(source);
    TokenizerConfig config;
    config.bos_token = "<｜begin▁of▁sentence｜>";
    config.eos_token = "<｜end▁of▁sentence｜>";
    ChatTemplateLimits lim;
    lim.max_steps = 100'000;
    lim.max_output_bytes = 1u << 20;
    lim.max_list_items = 1u << 16;
    volatile size_t sink = render_chat(t, config, ChatRequest::from_json(request), lim).size();
    (void)sink;
  });
  return 0;
}
