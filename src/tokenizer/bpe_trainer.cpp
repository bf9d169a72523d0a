#include "tokenizer/bpe_trainer.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <queue>
#include <system_error>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "core/progress.h"
#include "core/sys.h"
#include "tokenizer/byte_level.h"

namespace frugal::tok {
namespace {

using ojson = nlohmann::ordered_json;

// The chat template of DeepSeek-V3, copied from tests/data/tokenizer/deepseek_v3/tokenizer_config.json.
const char* const kChatTemplate = R"TPL({% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', is_first_sp=true) %}{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}{% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}{%- else %}{% set ns.system_prompt = ns.system_prompt + '

' + message['content'] %}{%- endif %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '
' + '```json' + '
' + tool['function']['arguments'] + '
' + '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}{%- else %}{{'
' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '
' + '```json' + '
' + tool['function']['arguments'] + '
' + '```' + '<｜tool▁call▁end｜>'}}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}{%- else %}{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}{%- else %}{{'
<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜>'}}{% endif %})TPL";

uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
int32_t pair_a(uint64_t k) { return int32_t(k >> 32); }
int32_t pair_b(uint64_t k) { return int32_t(k & 0xFFFFFFFFu); }

// Merges every non-overlapping occurrence of (a, b), left to right, into c. False if none.
bool merge_word(const std::vector<int32_t>& s, int32_t a, int32_t b, int32_t c, std::vector<int32_t>& out) {
  out.clear();
  bool changed = false;
  for (size_t i = 0; i < s.size();) {
    if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
      out.push_back(c);
      i += 2;
      changed = true;
    } else {
      out.push_back(s[i++]);
    }
  }
  return changed;
}

void sorted_pairs(const std::vector<int32_t>& s, std::vector<uint64_t>& out) {
  out.clear();
  for (size_t i = 0; i + 1 < s.size(); ++i) out.push_back(pair_key(s[i], s[i + 1]));
  std::sort(out.begin(), out.end());
}

class Trainer {
 public:
  Trainer(const WordCounts& wc, const BpeTrainOptions& opt, TrainedBpe& out) : opt_(opt), out_(out), heap_(Cmp{&out.tokens}) {
    for (int b = 0; b < 256; ++b) {
      out_.tokens.emplace_back(1, char(b));
      by_bytes_.emplace(out_.tokens.back(), b);
    }
    for (const auto& s : out_.specials) specials_.emplace(s, 0);
    // Words in byte order: the result must not depend on hash order or thread count.
    std::vector<const std::pair<const std::string, int64_t>*> sorted;
    sorted.reserve(wc.counts.size());
    for (const auto& kv : wc.counts)
      if (kv.first.size() >= 2 && kv.first.size() <= opt.max_word_bytes) sorted.push_back(&kv);
    std::sort(sorted.begin(), sorted.end(), [](auto* x, auto* y) { return x->first < y->first; });
    syms_.reserve(sorted.size());
    counts_.reserve(sorted.size());
    for (auto* kv : sorted) {
      const uint32_t w = uint32_t(syms_.size());
      std::vector<int32_t> s(kv->first.begin(), kv->first.end());
      for (auto& x : s) x = int32_t(uint8_t(x));
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        const uint64_t p = pair_key(s[i], s[i + 1]);
        pair_count_[p] += kv->second;
        auto& v = where_[p];
        if (v.empty() || v.back() != w) v.push_back(w);
      }
      syms_.push_back(std::move(s));
      counts_.push_back(kv->second);
    }
    for (const auto& [p, c] : pair_count_) heap_.push({c, p});
  }

  void run(int64_t target_tokens) {
    std::unique_ptr<Progress> progress;
    const int64_t todo = target_tokens - int64_t(out_.tokens.size());
    if (opt_.progress) progress = std::make_unique<Progress>("merging", todo, "tokens");
    std::vector<uint32_t> ids;
    std::vector<uint64_t> touched;
    while (int64_t(out_.tokens.size()) < target_tokens && !heap_.empty()) {
      const Entry top = heap_.top();
      heap_.pop();
      auto it = pair_count_.find(top.pair);
      const int64_t actual = it == pair_count_.end() ? 0 : it->second;
      if (actual != top.count) {  // stale entry: requeue at the current count
        if (actual > 0) heap_.push({actual, top.pair});
        continue;
      }
      if (actual < std::max<int64_t>(1, opt_.min_frequency)) break;
      const int32_t a = pair_a(top.pair), b = pair_b(top.pair);
      const std::string merged = out_.tokens[size_t(a)] + out_.tokens[size_t(b)];
      pair_count_.erase(top.pair);
      ids = std::move(where_[top.pair]);
      where_.erase(top.pair);
      // A token whose text equals a special token's would shadow it when Hugging Face loads the
      // file (it gives such added tokens the vocabulary id): never create one.
      if (specials_.count(bytes_to_symbols(merged))) continue;
      int32_t c;
      if (auto e = by_bytes_.find(merged); e != by_bytes_.end()) {
        c = e->second;  // the same bytes reached by another pair: reuse the token, as HF does
      } else {
        c = int32_t(out_.tokens.size());
        out_.tokens.push_back(merged);
        by_bytes_.emplace(merged, c);
      }
      out_.merges.emplace_back(a, b);
      apply(top.pair, a, b, c, ids, touched);
      if (progress) progress->update(int64_t(out_.tokens.size()) - 256);
    }
    if (progress) progress->finish();
  }

 private:
  struct Entry {
    int64_t count;
    uint64_t pair;
  };
  // Heap order: higher count first; ties by the left token's bytes, then the right's, smallest first.
  struct Cmp {
    const std::vector<std::string>* tokens;
    bool operator()(const Entry& x, const Entry& y) const {
      if (x.count != y.count) return x.count < y.count;
      const std::string& xa = (*tokens)[size_t(pair_a(x.pair))];
      const std::string& ya = (*tokens)[size_t(pair_a(y.pair))];
      if (int r = xa.compare(ya)) return r > 0;
      return (*tokens)[size_t(pair_b(x.pair))] > (*tokens)[size_t(pair_b(y.pair))];
    }
  };

  // Rewrites the words listed in `ids` and updates pair counts by the difference between each
  // word's old and new pairs (as multisets), so unchanged pairs cost no map update.
  void apply(uint64_t p, int32_t a, int32_t b, int32_t c, std::vector<uint32_t>& ids, std::vector<uint64_t>& touched) {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    touched.clear();
    for (uint32_t w : ids) {
      std::vector<int32_t>& s = syms_[w];
      if (!merge_word(s, a, b, c, next_)) continue;  // stale: the pair left this word earlier
      sorted_pairs(s, old_pairs_);
      sorted_pairs(next_, new_pairs_);
      const int64_t n = counts_[w];
      size_t i = 0, j = 0;
      while (i < old_pairs_.size() || j < new_pairs_.size()) {
        if (j == new_pairs_.size() || (i < old_pairs_.size() && old_pairs_[i] < new_pairs_[j])) {
          const uint64_t q = old_pairs_[i++];
          if (q == p) continue;
          auto it = pair_count_.find(q);
          if (it != pair_count_.end() && (it->second -= n) <= 0) {
            pair_count_.erase(it);
            where_.erase(q);
          }
        } else if (i == old_pairs_.size() || new_pairs_[j] < old_pairs_[i]) {
          const uint64_t q = new_pairs_[j++];
          if (q == p) continue;
          pair_count_[q] += n;
          auto& v = where_[q];
          if (v.empty() || v.back() != w) v.push_back(w);
          touched.push_back(q);
        } else {
          ++i, ++j;  // in both: unchanged
        }
      }
      s.swap(next_);
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (uint64_t q : touched)
      if (auto it = pair_count_.find(q); it != pair_count_.end()) heap_.push({it->second, q});
  }

  const BpeTrainOptions& opt_;
  TrainedBpe& out_;
  std::vector<std::vector<int32_t>> syms_;
  std::vector<int64_t> counts_;
  std::unordered_map<uint64_t, int64_t> pair_count_;
  std::unordered_map<uint64_t, std::vector<uint32_t>> where_;
  std::unordered_map<std::string, int32_t> by_bytes_;
  std::unordered_map<std::string, int> specials_;
  std::priority_queue<Entry, std::vector<Entry>, Cmp> heap_;
  std::vector<int32_t> next_;
  std::vector<uint64_t> old_pairs_, new_pairs_;
};

ojson config_token(const std::string& content) {
  return ojson{{"__type", "AddedToken"}, {"content", content}, {"lstrip", false},
               {"normalized", true},     {"rstrip", false},    {"single_word", false}};
}

}  // namespace

const std::vector<std::string>& deepseek_special_tokens() {
  static const std::vector<std::string> kTokens = {
      "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>",        "<｜User｜>",
      "<｜Assistant｜>",          "<think>",                 "</think>",            "<｜tool▁calls▁begin｜>",
      "<｜tool▁calls▁end｜>",     "<｜tool▁call▁begin｜>",   "<｜tool▁call▁end｜>", "<｜tool▁sep｜>",
      "<｜tool▁outputs▁begin｜>", "<｜tool▁outputs▁end｜>",  "<｜tool▁output▁begin｜>", "<｜tool▁output▁end｜>"};
  return kTokens;
}

TrainedBpe train_bpe(const WordCounts& words, const BpeTrainOptions& opt) {
  const auto& specials = deepseek_special_tokens();
  const int64_t min_vocab = 256 + int64_t(specials.size());
  if (opt.vocab_size < min_vocab)
    fail(ErrorKind::kInvalidArgument,
         "vocab size {} is too small: it counts the 256 byte tokens and the {} special tokens, so it must be "
         "at least {}",
         opt.vocab_size, specials.size(), min_vocab);
  if (opt.vocab_size > (int64_t(1) << 24))
    fail(ErrorKind::kInvalidArgument, "vocab size {} is too large (at most {})", opt.vocab_size, int64_t(1) << 24);
  if (words.counts.empty()) fail(ErrorKind::kInvalidArgument, "the corpus is empty: there is no text to train on");
  TrainedBpe out;
  out.specials = specials;
  Trainer t(words, opt, out);
  t.run(opt.vocab_size - int64_t(specials.size()));
  return out;
}

std::string trained_tokenizer_json(const TrainedBpe& bpe, DigitSplit digits) {
  const int32_t base = int32_t(bpe.tokens.size());
  ojson added = ojson::array();
  // <think> and </think> are added but not special, as in DeepSeek-R1's and Qwen3's tokenizers:
  // decoding with skip_special_tokens keeps them, so a completion's reasoning tags reach the
  // format check and the user.
  for (size_t i = 0; i < bpe.specials.size(); ++i) {  // keys in the order Hugging Face writes them
    const bool special = bpe.specials[i] != "<think>" && bpe.specials[i] != "</think>";
    added.push_back(ojson{{"id", base + int32_t(i)}, {"content", bpe.specials[i]}, {"single_word", false},
                          {"lstrip", false},        {"rstrip", false},             {"normalized", false},
                          {"special", special}});
  }
  const std::string& bos = bpe.specials.at(0);
  ojson post{{"type", "TemplateProcessing"},
             {"single", ojson::array({ojson{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                                      ojson{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
             {"pair", ojson::array({ojson{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                                    ojson{{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                    ojson{{"SpecialToken", {{"id", bos}, {"type_id", 1}}}},
                                    ojson{{"Sequence", {{"id", "B"}, {"type_id", 1}}}}})},
             {"special_tokens", {{bos, {{"id", bos}, {"ids", {base}}, {"tokens", {bos}}}}}}};
  ojson vocab = ojson::object();
  // Tokens are unique, so append to the ordered map directly (its operator[] is a linear search).
  auto& entries = static_cast<std::vector<std::pair<const std::string, ojson>>&>(vocab.get_ref<ojson::object_t&>());
  entries.reserve(bpe.tokens.size());
  for (size_t i = 0; i < bpe.tokens.size(); ++i) entries.emplace_back(bytes_to_symbols(bpe.tokens[i]), int32_t(i));
  ojson merges = ojson::array();
  for (auto [a, b] : bpe.merges)
    merges.push_back(ojson::array({bytes_to_symbols(bpe.tokens[size_t(a)]), bytes_to_symbols(bpe.tokens[size_t(b)])}));
  ojson model{{"type", "BPE"},         {"dropout", nullptr},     {"unk_token", nullptr},
              {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}, {"fuse_unk", false},
              {"byte_fallback", false}, {"ignore_merges", false}, {"vocab", std::move(vocab)},
              {"merges", std::move(merges)}};
  ojson j{{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", std::move(added)},
          {"normalizer", {{"type", "Sequence"}, {"normalizers", ojson::array()}}},
          {"pre_tokenizer", ojson::parse(training_pre_tokenizer_json(digits))},
          {"post_processor", std::move(post)},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
          {"model", std::move(model)}};
  return j.dump(1) + "\n";
}

std::string trained_tokenizer_config_json() {
  const auto& sp = deepseek_special_tokens();
  ojson j{{"add_bos_token", true},
          {"add_eos_token", false},
          {"bos_token", config_token(sp[0])},
          {"clean_up_tokenization_spaces", false},
          {"eos_token", config_token(sp[1])},
          {"legacy", true},
          {"model_max_length", 131072},
          {"pad_token", config_token(sp[1])},
          {"sp_model_kwargs", ojson::object()},
          {"unk_token", nullptr},
          {"tokenizer_class", "LlamaTokenizerFast"},
          {"chat_template", kChatTemplate}};
  return j.dump(2) + "\n";
}

TrainStats train_tokenizer_files(const std::vector<std::string>& files, const std::string& out_dir,
                                 const BpeTrainOptions& opt) {
  // Check what needs no corpus first: a bad vocab size or output directory fails at once.
  const int64_t min_vocab = 256 + int64_t(deepseek_special_tokens().size());
  if (opt.vocab_size < min_vocab) train_bpe(WordCounts{}, opt);  // throws the vocab-size error
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec || !is_directory(out_dir))
    fail(ErrorKind::kIo, "cannot create output directory {}: {}", out_dir, ec ? ec.message() : "not a directory");
  TrainStats st;
  const PreTokenizer pt =
      PreTokenizer::from_json(nlohmann::json::parse(training_pre_tokenizer_json(opt.digits)), "training pre_tokenizer");
  double t0 = now_seconds();
  CountOptions co;
  co.threads = opt.threads;
  co.progress = opt.progress;
  const WordCounts wc = count_words_in_files(pt, files, co);
  st.count_seconds = now_seconds() - t0;
  st.bytes = wc.bytes;
  st.distinct_words = int64_t(wc.counts.size());
  if (wc.counts.empty())
    fail(ErrorKind::kInvalidArgument, "the corpus is empty: {} hold no text to train on",
         files.size() == 1 ? files[0] : fmt::format("the {} input files", files.size()));
  t0 = now_seconds();
  const TrainedBpe bpe = train_bpe(wc, opt);
  st.merge_seconds = now_seconds() - t0;
  st.merges = int64_t(bpe.merges.size());
  st.vocab_size = bpe.vocab_size();
  write_file_atomic(path_join(out_dir, "tokenizer.json"), trained_tokenizer_json(bpe, opt.digits));
  write_file_atomic(path_join(out_dir, "tokenizer_config.json"), trained_tokenizer_config_json());
  return st;
}

}  // namespace frugal::tok
