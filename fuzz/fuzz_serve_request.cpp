// The JSON bodies of every POST route of `frugal serve`, fed to the same functions the handlers
// call (parse_body, then parse_chat_request / parse_completion_request / tokenize_response /
// detokenize_response / apply_template_response), without a socket. The first byte picks the route
// and the served model: '0' chat/completions, '1' completions, '2' tokenize, '3' detokenize,
// '4' apply-template against the V3-style byte tokenizer of tests/data/serve/byte_v3, '5'..'9' the
// same routes against byte_r1 (reasoning template); the rest is the body.
//
// A bad body must end in an ApiError with a 4xx status (docs/serving.md, Errors: "500 would mean a
// bug in frugal") or a frugal::Error of kind invalid argument (the handler's 400); anything else
// aborts.
#include "fuzz_util.h"
#include "serve/openai_error.h"
#include "serve/openai_request.h"
#include "serve/openai_response.h"
#include "serve/openai_tokenize.h"

using namespace frugal;
using namespace frugal::serve;

namespace {

std::shared_ptr<const ServedModel> load_model(const std::string& variant) {
  auto m = std::make_shared<ServedModel>();
  const std::string dir = std::string(FRUGAL_TEST_DATA) + "/serve/" + variant;
  m->name = "micro";
  m->tokenizer = std::make_shared<const Tokenizer>(Tokenizer::load(dir));
  m->tokenizer_config = TokenizerConfig::load(dir);
  m->vocab_size = 256;
  m->ctx = 256;
  m->eos_ids = {1};
  m->special_strings = added_token_strings(read_file(dir + "/tokenizer.json"));
  finish_served_model(*m, ReasoningParser::kAuto);
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::shared_ptr<const ServedModel> models[2] = {load_model("byte_v3"), load_model("byte_r1")};
  static const RequestLimits limits;
  if (size == 0) return 0;
  const unsigned pick = (unsigned(data[0]) - '0') % 10u;
  const ServedModel& model = *models[pick / 5];
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  fuzz::run_guarded([&] {
    try {
      const ojson body = parse_body(text, limits);
      std::string out;  // the handler's response must serialize
      switch (pick % 5) {
        case 0: out = dump_json(ojson(parse_chat_request(body, model, limits).gen.prompt.size())); break;
        case 1: out = dump_json(ojson(parse_completion_request(body, model, limits).gen.prompt.size())); break;
        case 2: out = tokenize_response(body, model); break;
        case 3: out = detokenize_response(body, model); break;
        default: out = apply_template_response(body, model); break;
      }
      volatile size_t sink = out.size();
      (void)sink;
    } catch (const ApiError& e) {
      if (e.status < 400 || e.status >= 500) fuzz::bug("ApiError with a non-4xx status", "ApiError", e.what());
      fuzz::rejected(e.what());
      volatile size_t sink = dump_json(e.to_json()).size();  // the error envelope must serialize too
      (void)sink;
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kInvalidArgument) fuzz::bug("frugal::Error the server would answer with 500",
                                                             error_kind_name(e.kind()), e.what());
      fuzz::rejected(e.what());
    }
  });
  return 0;
}
