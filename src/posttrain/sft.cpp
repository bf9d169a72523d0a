#include "posttrain/sft.h"

#include <fmt/format.h>

#include "core/error.h"
#include "io/hf_config.h"

namespace frugal {

namespace {

std::string report_line(const SftLoadReport& r) {
  std::string s = fmt::format("{} conversations -> {} examples, {} tokens, {:.1f}% trained", r.conversations,
                              r.examples, r.tokens, r.tokens ? 100.0 * double(r.trained_tokens) / double(r.tokens) : 0);
  if (r.split_per_turn) s += fmt::format(", {} split per assistant turn", r.split_per_turn);
  if (r.no_assistant) s += fmt::format(", {} without an assistant turn skipped", r.no_assistant);
  if (r.bad_lines) s += fmt::format(", {} malformed lines skipped", r.bad_lines);
  return s;
}

void print_notes(const SftLoadReport& r) {
  for (const std::string& n : r.notes) std::fprintf(stderr, "frugal sft: warning: %s\n", n.c_str());
}

}  // namespace

SftExamples load_sft_examples(const SftConfig& c, SftLoadReport* report) {
  const DeepSeekConfig m = load_hf_config(c.train.model.init);
  const ChatFormat fmt(c.train.model.init, c.sft.tokenizer, c.sft.prompt_format);
  SftLoadReport r, rv;
  SftExamples ex;
  ex.train = load_sft_jsonl(c.sft.data, fmt, c.sft.on_bad_line, &r);
  if (!c.sft.val_data.empty()) ex.val = load_sft_jsonl(c.sft.val_data, fmt, c.sft.on_bad_line, &rv);
  print_notes(r);
  print_notes(rv);
  ex.pad_id = m.eos_token_id >= 0 && m.eos_token_id < m.vocab_size ? int32_t(m.eos_token_id) : 0;
  ex.summary = fmt::format("SFT data {} ({}): {}", c.sft.data, fmt.describe(), report_line(r));
  if (report) *report = r;
  return ex;
}

std::unique_ptr<SftPacker> pack_sft_examples(const SftConfig& c, SftExamples ex) {
  return std::make_unique<SftPacker>(std::move(ex.train), std::move(ex.val), c.train.train.batch, c.train.data.seq_len,
                                     c.train.train.seed, c.train.data.shuffle, ex.pad_id, c.sft.data,
                                     std::move(ex.summary));
}

std::unique_ptr<SftPacker> load_sft_data(const SftConfig& c, SftLoadReport* report) {
  return pack_sft_examples(c, load_sft_examples(c, report));
}

TrainSummary run_sft(const SftConfig& c) {
  std::unique_ptr<SftPacker> data = load_sft_data(c);
  const std::string toml = to_toml(c);
  TrainSummary s = run_training(c.train, data.get(), &toml);
  if (!s.export_dir.empty()) copy_tokenizer_files(c.train.model.init, c.sft.tokenizer, s.export_dir);
  return s;
}

std::string sft_dry_run(const SftConfig& c, int64_t samples) {
  const ChatFormat fmt(c.train.model.init, c.sft.tokenizer, c.sft.prompt_format);
  SftLoadReport r;
  const std::vector<SftExample> ex = load_sft_jsonl(c.sft.data, fmt, c.sft.on_bad_line, &r);
  std::string out = fmt::format("format: {}\ndata: {}: {}\n", fmt.describe(), c.sft.data, report_line(r));
  for (const std::string& n : r.notes) out += "warning: " + n + "\n";
  // The first examples as the model sees them: each run of tokens decoded (special tokens shown),
  // the trained runs between ⟦ and ⟧.
  for (size_t i = 0; i < ex.size() && int64_t(i) < samples; ++i) {
    const SftExample& e = ex[i];
    int64_t trained = 0;
    for (uint8_t t : e.trained) trained += t;
    out += fmt::format("\n--- example {} ({}:{}): {} tokens, {} trained{} ---\n", i + 1, c.sft.data, e.line,
                       e.tokens.size(), trained,
                       int64_t(e.tokens.size()) > c.train.data.seq_len
                           ? fmt::format(", truncated to data.seq_len = {}", c.train.data.seq_len)
                           : "");
    for (size_t a = 0; a < e.tokens.size();) {
      size_t b = a;
      while (b < e.tokens.size() && e.trained[b] == e.trained[a]) ++b;
      const std::string piece = fmt.tokenizer().decode({e.tokens.begin() + long(a), e.tokens.begin() + long(b)}, false);
      out += e.trained[a] ? "⟦" + piece + "⟧" : piece;
      a = b;
    }
    out += "\n";
  }
  return out;
}

}  // namespace frugal
