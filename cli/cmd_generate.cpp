// frugal generate MODEL_DIR (--ids 1,2,3 | --prompt TEXT [--chat]) --max-tokens N [--temperature T
//                 --top-p P --top-k K --min-p M --seed S] [--tokenizer PATH] [--json]
// With a tokenizer (MODEL_DIR/tokenizer.json, or --tokenizer), --prompt encodes text (adding BOS
// when tokenizer_config.json asks for it), --chat renders it as one user turn through the chat
// template first, and the output streams as text; --json always prints {"ids": [generated ids]}.
#include <cstdio>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file.h"
#include "core/gguf.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_config.h"
#include "core/sys.h"
#include "infer/generate.h"
#include "io/hf_loader.h"

namespace frugal::cli {

void register_generate(CLI::App& app) {
  struct Opts {
    std::string model, ids, prompt, tokenizer;
    bool chat = false;
    int64_t max_tokens = 16, prefill_chunk = 512;
    SamplingParams s;
    bool json = false, ignore_eos = false, stats = false, check_tensors = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("generate", "generate tokens from a prompt of token ids");
  c->add_option("MODEL_DIR", o->model, "Hugging Face checkpoint directory or .gguf file")->required();
  c->add_flag("--check-tensors", o->check_tensors, "scan every weight for NaN/Inf while loading (slow)");
  CLI::Option* ids_opt = c->add_option("--ids", o->ids, "prompt token ids, comma-separated");
  CLI::Option* prompt_opt = c->add_option("--prompt", o->prompt, "prompt text (needs a tokenizer)");
  ids_opt->excludes(prompt_opt);
  c->add_flag("--chat", o->chat, "render --prompt as a user message with the chat template")->needs(prompt_opt);
  c->add_option("--tokenizer", o->tokenizer, "tokenizer.json, its folder or .gz (default: MODEL_DIR)");
  c->add_option("--max-tokens", o->max_tokens, "token budget")->check(CLI::NonNegativeNumber);
  c->add_option("--temperature", o->s.temperature, "0 = greedy")->default_val(1.0f);
  c->add_option("--top-p", o->s.top_p, "nucleus sampling threshold")->default_val(1.0f);
  c->add_option("--top-k", o->s.top_k, "keep the k most likely tokens (0 = off)")->default_val(0);
  c->add_option("--min-p", o->s.min_p, "drop tokens below min_p x the top probability")->default_val(0.0f);
  c->add_option("--seed", o->s.seed, "sampling seed (same seed, same output)")
      ->default_val(0)
      ->check(CLI::NonNegativeNumber);
  c->add_option("--prefill-chunk", o->prefill_chunk, "prompt tokens per forward pass")->check(CLI::PositiveNumber);
  c->add_flag("--ignore-eos", o->ignore_eos, "do not stop at the end-of-sequence token");
  c->add_flag("--json", o->json, "print {\"ids\": [generated ids]}");
  c->add_flag("--stats", o->stats, "print prefill/decode speed to stderr");
  c->callback([o, ids_opt, prompt_opt] {
    if (ids_opt->count() == 0 && prompt_opt->count() == 0) throw CLI::RequiredError("--ids or --prompt");  // exit 2
    validate(o->s);
    // A tokenizer is needed for --prompt, and used to print text when one is present.
    const std::string tok_path = o->tokenizer.empty() ? o->model : o->tokenizer;
    std::optional<Tokenizer> tok;
    const bool gguf_tok = is_gguf_path(tok_path);
    if (prompt_opt->count() > 0 || !o->tokenizer.empty() || file_exists(path_join(o->model, "tokenizer.json"))) {
      tok = Tokenizer::load(tok_path);
    } else if (gguf_tok) {  // --ids with a GGUF: its vocabulary prints text if frugal can read it
      try {
        tok = Tokenizer::load(tok_path);
      } catch (const Error& e) {
        std::fprintf(stderr, "note: printing ids, the GGUF's tokenizer is not usable: %s\n", e.what());
      }
    }
    const std::string tok_dir = is_directory(tok_path) ? tok_path : std::filesystem::path(tok_path).parent_path().string();
    std::vector<int32_t> ids;
    if (prompt_opt->count() > 0) {
      const std::string cfg_path = path_join(tok_dir, "tokenizer_config.json");
      std::optional<TokenizerConfig> tcfg;
      if (file_exists(cfg_path)) tcfg = TokenizerConfig::load(cfg_path);
      std::string text = o->prompt;
      if (o->chat) {
        if (!tcfg || tcfg->chat_template.empty())
          fail(ErrorKind::kInvalidArgument, "--chat: no chat_template in {}", cfg_path);
        ChatRequest req;
        req.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", o->prompt}}});
        req.add_generation_prompt = true;
        text = render_chat(ChatTemplate(tcfg->chat_template, tcfg->chat_template_source), *tcfg, req);
      } else if (tcfg && tcfg->add_bos_token && tcfg->bos_token && text.rfind(*tcfg->bos_token, 0) != 0) {
        text = *tcfg->bos_token + text;  // what transformers' tokenizer(prompt) does for DeepSeek
      }
      ids = tok->encode(text, gguf_tok && !o->chat);  // a GGUF's BOS comes from its post-processor
    } else {
      ids = parse_ids(o->ids);
    }
    LoadOptions lo;
    lo.check_finite = o->check_tensors;
    auto m = load_model(o->model, lo);
    Transformer model(m->config, m->weights);
    GenerateParams gp;
    gp.max_tokens = o->max_tokens;
    gp.sampling = o->s;
    gp.stop_at_eos = !o->ignore_eos;
    gp.prefill_chunk = o->prefill_chunk;
    // Text streams out a token at a time, holding back bytes of an unfinished UTF-8 character.
    std::vector<int32_t> pending;
    auto stream = [&](int32_t id) {
      if (o->json) return true;
      if (!tok) {
        std::printf("%d\n", id);
      } else {
        pending.push_back(id);
        std::string piece = tok->decode(pending, true);
        if (piece.size() >= 3 && piece.compare(piece.size() - 3, 3, "\xEF\xBF\xBD") == 0 && pending.size() < 8)
          return true;
        std::fputs(piece.c_str(), stdout);
        pending.clear();
      }
      std::fflush(stdout);
      return true;
    };
    GenerateResult r = generate(model, ids, gp, stream);
    if (o->json) std::printf("%s\n", nlohmann::json{{"ids", r.ids}}.dump().c_str());
    else if (tok) std::printf("%s\n", pending.empty() ? "" : tok->decode(pending, true).c_str());
    if (o->stats) {
      const double n_dec = double(r.ids.size() > 1 ? r.ids.size() - 1 : 0);
      std::fprintf(stderr,
                   "prompt %lld tokens: prefill %.1f tok/s | %zu generated: decode %.1f tok/s | finish %s | "
                   "kv cache %.1f KiB | peak rss %.1f MiB\n",
                   (long long)r.prompt_tokens, double(r.prompt_tokens) / r.prefill_seconds, r.ids.size(),
                   r.decode_seconds > 0 ? n_dec / r.decode_seconds : 0.0, r.finish_reason.c_str(),
                   double(r.kv_cache_bytes) / 1024, double(peak_rss_bytes()) / (1 << 20));
    }
  });
}

}  // namespace frugal::cli
