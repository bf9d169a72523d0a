#include "posttrain/sft_data.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "core/rng.h"

namespace frugal {

namespace {

constexpr size_t kMaxNotes = 5;  // skipped lines quoted in the report

using ojson = nlohmann::ordered_json;

// Checks the OpenAI message shape and folds reasoning_content into the content when the template
// does not read it. Returns the messages to render.
ojson normalized_messages(const ChatFormat& fmt, const ojson& messages) {
  if (!messages.is_array() || messages.empty())
    fail(ErrorKind::kInvalidArgument, "messages: expected a non-empty array of {{\"role\", \"content\"}} objects");
  const bool template_reads_reasoning = fmt.template_mentions("reasoning_content");
  ojson out = ojson::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const ojson& m = messages[i];
    if (!m.is_object()) fail(ErrorKind::kInvalidArgument, "messages[{}]: expected an object", i);
    if (!m.contains("role") || !m["role"].is_string())
      fail(ErrorKind::kInvalidArgument, "messages[{}].role: expected a string", i);
    if (!m.contains("content") || !m["content"].is_string())
      fail(ErrorKind::kInvalidArgument, "messages[{}].content: expected a string", i);
    ojson n = m;
    if (m.contains("reasoning_content")) {
      if (m["role"] != "assistant")
        fail(ErrorKind::kInvalidArgument, "messages[{}].reasoning_content: only assistant turns carry reasoning", i);
      if (!m["reasoning_content"].is_string())
        fail(ErrorKind::kInvalidArgument, "messages[{}].reasoning_content: expected a string", i);
      if (!template_reads_reasoning) {
        n["content"] = "<think>\n" + m["reasoning_content"].get<std::string>() + "\n</think>\n\n" +
                       m["content"].get<std::string>();
        n.erase("reasoning_content");
      }
    }
    out.push_back(std::move(n));
  }
  return out;
}

ojson first_n(const ojson& messages, size_t n) {
  ojson out = ojson::array();
  for (size_t i = 0; i < n; ++i) out.push_back(messages[i]);
  return out;
}

// The assistant turn's text split at the end of its last end-of-sequence text: the part trained
// and what the template writes after it (a newline, say), which generation never produces.
void add_turn(SftSegments& seg, const std::string& turn, const std::string& eos) {
  size_t cut = turn.size();
  if (!eos.empty()) {
    const size_t at = turn.rfind(eos);
    if (at != std::string::npos) cut = at + eos.size();
  }
  seg.emplace_back(turn.substr(0, cut), true);
  if (cut < turn.size()) seg.emplace_back(turn.substr(cut), false);
}

// The answer as a model generates it, "<think>\nREASONING\n</think>\n\nCONTENT" (or CONTENT), less
// the longest prefix of it that `prompt` already ends with (a pre-filled "<think>\n").
std::string completion_after(const std::string& prompt, const ojson& message) {
  const std::string content = message["content"].get<std::string>();
  const std::string completion =
      message.contains("reasoning_content")
          ? "<think>\n" + message["reasoning_content"].get<std::string>() + "\n</think>\n\n" + content
          : content;
  constexpr size_t kMaxOverlap = 256;  // a pre-filled tag, not a document
  for (size_t k = std::min({completion.size(), prompt.size(), kMaxOverlap}); k > 0; --k)
    if (prompt.compare(prompt.size() - k, k, completion, 0, k) == 0) return completion.substr(k);
  return completion;
}

}  // namespace

std::vector<SftSegments> sft_segments(const ChatFormat& fmt, const ojson& raw) {
  const ojson messages = normalized_messages(fmt, raw);
  const std::string eos = fmt.eos_text().value_or("");
  std::vector<size_t> turns;
  for (size_t i = 0; i < messages.size(); ++i)
    if (messages[i]["role"] == "assistant") turns.push_back(i);
  if (turns.empty()) return {};

  // The prompt before turn i and the text through turn i, each rendered on its own.
  auto prompt_of = [&](size_t i) { return fmt.render(first_n(messages, i), true); };
  auto through = [&](size_t i) { return fmt.render(first_n(messages, i + 1), false); };

  // One example: every turn's text is a prefix of the whole conversation's.
  const std::string whole = fmt.render(messages, false);
  SftSegments seg;
  size_t pos = 0;
  bool one_example = true;
  for (size_t i : turns) {
    const std::string pre = prompt_of(i), full = through(i);
    if (pre.size() < pos || full.size() < pre.size() || whole.compare(0, full.size(), full) != 0 ||
        full.compare(0, pre.size(), pre) != 0) {
      one_example = false;
      break;
    }
    seg.emplace_back(whole.substr(pos, pre.size() - pos), false);
    add_turn(seg, full.substr(pre.size()), eos);
    pos = full.size();
  }
  if (one_example) {
    seg.emplace_back(whole.substr(pos), false);
    return {seg};
  }
  // The template rewrites earlier turns: one example per assistant turn, ending at that turn.
  std::vector<SftSegments> out;
  for (size_t i : turns) {
    const std::string pre = prompt_of(i), full = through(i);
    SftSegments s;
    s.emplace_back(pre, false);
    if (full.compare(0, pre.size(), pre) == 0) {
      add_turn(s, full.substr(pre.size()), eos);
    } else {
      // The template's generation prompt is not a prefix of its rendering of the answer (R1's
      // pre-fills "<think>\n" and renders past answers without their reasoning): train on what
      // generation must produce after this prompt, the answer in the R1 format, without the part
      // the prompt already wrote, then the end-of-sequence text.
      s.emplace_back(completion_after(pre, raw[i]) + eos, true);
    }
    out.push_back(std::move(s));
  }
  return out;
}

SftExample sft_tokenize(const ChatFormat& fmt, const SftSegments& segments, int64_t line) {
  SftExample ex;
  ex.line = line;
  for (const auto& [text, trained] : segments) {
    if (text.empty()) continue;
    const std::vector<int32_t> ids = fmt.encode(text);
    ex.tokens.insert(ex.tokens.end(), ids.begin(), ids.end());
    ex.trained.insert(ex.trained.end(), ids.size(), trained ? 1 : 0);
  }
  return ex;
}

uint64_t sft_examples_fingerprint(const std::vector<SftExample>& ex) {
  uint64_t h = 0x51f7;
  for (const SftExample& e : ex) {
    h = mix64(h ^ e.tokens.size());
    for (size_t i = 0; i < e.tokens.size(); ++i) h = mix64(h ^ (uint64_t(uint32_t(e.tokens[i])) << 1 | e.trained[i]));
  }
  return h;
}

void for_each_jsonl_line(const std::string& path, BadLinePolicy policy, std::string_view option,
                         const std::function<void(std::string_view line, const std::string& where, int64_t line_no)>& fn,
                         int64_t* skipped, std::vector<std::string>* notes) {
  const std::string text = read_file(path);
  int64_t line_no = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + start, end - start);
    start = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = fmt::format("{}:{}", path, line_no);
    try {
      fn(line, where, line_no);
    } catch (const Error& e) {
      const std::string msg = std::string_view(e.what()).starts_with(where) ? e.what() : where + ": " + e.what();
      if (policy == BadLinePolicy::kStop) fail(e.kind(), "{} ({} = stop; use skip to drop such lines)", msg, option);
      if (skipped) ++*skipped;
      if (notes && notes->size() < kMaxNotes) notes->push_back(msg + " (skipped)");
    }
  }
}

std::vector<SftExample> load_sft_jsonl(const std::string& path, const ChatFormat& fmt, BadLinePolicy policy,
                                       SftLoadReport* report) {
  SftLoadReport r;
  std::vector<SftExample> out;
  auto one = [&](std::string_view line, const std::string& where, int64_t line_no) {
    ++r.lines;
    const ojson j = parse_ordered_json(line, where);
    if (!j.is_object() || !j.contains("messages")) fail(ErrorKind::kInvalidArgument, "expected an object with \"messages\"");
    const std::vector<SftSegments> examples = sft_segments(fmt, j["messages"]);
    if (examples.empty()) {
      ++r.no_assistant;
      if (r.notes.size() < kMaxNotes) r.notes.push_back(where + ": no assistant turn (skipped)");
      return;
    }
    ++r.conversations;
    if (examples.size() > 1) ++r.split_per_turn;
    for (const SftSegments& s : examples) {
      SftExample ex = sft_tokenize(fmt, s, line_no);
      r.tokens += int64_t(ex.tokens.size());
      for (uint8_t t : ex.trained) r.trained_tokens += t;
      out.push_back(std::move(ex));
    }
  };
  for_each_jsonl_line(path, policy, "sft.on_bad_line", one, &r.bad_lines, &r.notes);
  r.examples = int64_t(out.size());
  if (out.empty())
    fail(ErrorKind::kInvalidArgument, "{}: no conversation with an assistant turn ({} lines, {} skipped as malformed, "
         "{} without an assistant turn)", path, r.lines, r.bad_lines, r.no_assistant);
  if (report) *report = std::move(r);
  return out;
}

}  // namespace frugal
