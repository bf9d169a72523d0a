// SFT data (docs/posttrain.md, SFT): chat conversations in JSONL, rendered by the model's own
// ChatFormat, with the loss on the assistant's tokens only.
//
// A line is {"messages": [{"role", "content"}, ...]}, the OpenAI shape; an assistant turn may carry
// "reasoning_content", passed to a template that reads that variable and otherwise written into
// the content as "<think>\nREASONING\n</think>\n\nCONTENT" (the R1 format the tasks' answer check
// reads). Which tokens are the assistant's: for assistant turn i, the text the template renders for
// messages[0..i] with the generation prompt is the prompt, and what messages[0..i+1] adds to it is
// the turn; the turn is trained up to and including its end-of-sequence text (a newline the
// template writes after it is not). Every piece is tokenized on its own, exactly as generation
// sees it (the prompt encoded, then the answer's tokens produced one by one). When every turn's
// text is a prefix of the whole conversation's, the conversation is one example; a template that
// rewrites earlier turns (R1's drops the reasoning of past answers) makes one example per
// assistant turn instead, each ending at that turn. When even the turn's own text does not extend
// its prompt (R1's generation prompt pre-fills "<think>\n", its rendering of an answer has no
// reasoning), the trained text is what generation must produce after the prompt: the answer in the
// R1 format, less what the prompt already ends with, then the end-of-sequence text.
#pragma once
#include <cstdint>
#include <functional>
#include <string_view>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "posttrain/chat_format.h"

namespace frugal {

// One rendered training example.
struct SftExample {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> trained;  // [tokens] 1: an assistant token (scored as the previous token's target)
  int64_t line = 0;              // 1-based JSONL line it came from
  // Logit distillation (teacher_topk.h): per position j, the teacher's k most likely next tokens
  // and their renormalised probabilities, [tokens, k]; set where token j+1 is trained, else
  // (0, 0). Empty: hard targets.
  std::vector<int32_t> soft_ids;
  std::vector<float> soft_q;
};

// Text pieces of a rendered conversation and whether each is trained (what --dry-run shows).
using SftSegments = std::vector<std::pair<std::string, bool>>;

// Validates `messages` (kInvalidArgument naming the field: "messages[2].content: expected a string")
// and returns one segment list per example (see the header comment).
std::vector<SftSegments> sft_segments(const ChatFormat& fmt, const nlohmann::ordered_json& messages);
// The segments tokenized piece by piece.
SftExample sft_tokenize(const ChatFormat& fmt, const SftSegments& segments, int64_t line);

// Identifies the examples' tokens and trained flags (not their soft targets): resumes and caches
// check it.
uint64_t sft_examples_fingerprint(const std::vector<SftExample>& ex);

enum class BadLinePolicy { kStop, kSkip };

// Calls fn(line, where, line_no) for every non-blank line of the JSONL file `path` (where is
// "FILE:LINE"). An Error thrown by fn stops the read under kStop, rethrown naming the line and
// `option` (the key that would skip it), or skips the line under kSkip, counted in *skipped with
// the first few messages in *notes.
void for_each_jsonl_line(const std::string& path, BadLinePolicy policy, std::string_view option,
                         const std::function<void(std::string_view line, const std::string& where, int64_t line_no)>& fn,
                         int64_t* skipped, std::vector<std::string>* notes);

struct SftLoadReport {
  int64_t lines = 0;               // non-blank lines read
  int64_t conversations = 0;       // lines that gave examples
  int64_t examples = 0;            // examples (more than conversations when split per turn)
  int64_t split_per_turn = 0;      // conversations split per assistant turn
  int64_t no_assistant = 0;        // conversations without an assistant turn (skipped)
  int64_t bad_lines = 0;           // malformed lines skipped (BadLinePolicy::kSkip)
  std::vector<std::string> notes;  // the first few skipped lines' messages, "FILE:LINE: ..."
  int64_t tokens = 0, trained_tokens = 0;
};

// Reads and renders every conversation of `path`. A malformed line (bad JSON, no "messages", a bad
// message, a template error) stops with kInvalidArgument/kFormat naming "FILE:LINE" and the field,
// or is skipped and counted under kSkip. Conversations without an assistant turn are skipped and
// counted. No example at all is an error naming the file.
std::vector<SftExample> load_sft_jsonl(const std::string& path, const ChatFormat& fmt, BadLinePolicy policy,
                                       SftLoadReport* report);

}  // namespace frugal
