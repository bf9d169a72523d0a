// Generated tokens -> what a client sees, one choice at a time, streaming or not:
//
//   ids -> IncrementalDecoder -> StopMatcher -> ReasoningSplitter -> ToolCallParser -> deltas
//
// IncrementalDecoder turns ids into text without ever emitting half a UTF-8 character; StopMatcher
// holds back any tail that could still grow into a stop string, so a stop string is never sent;
// ReasoningSplitter sends the inside of a <think> block to reasoning_content (DeepSeek-R1 style,
// a missing opening tag is fine when the prompt opened the block); ToolCallParser turns DeepSeek-V3
// tool-call tokens into OpenAI tool_calls. Each stage is a plain push/flush state machine.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace frugal::serve {

// DeepSeek-V3 tool-call markers (special tokens of its tokenizer).
inline constexpr std::string_view kToolCallsBegin = "<｜tool▁calls▁begin｜>";
inline constexpr std::string_view kToolCallsEnd = "<｜tool▁calls▁end｜>";
inline constexpr std::string_view kToolCallBegin = "<｜tool▁call▁begin｜>";
inline constexpr std::string_view kToolCallEnd = "<｜tool▁call▁end｜>";
inline constexpr std::string_view kToolSep = "<｜tool▁sep｜>";
inline constexpr std::string_view kThinkBegin = "<think>";
inline constexpr std::string_view kThinkEnd = "</think>";

// Ids -> text as `frugal generate` prints it: special tokens are dropped (skip_special_tokens),
// bytes of an unfinished UTF-8 character wait for the next token (at most 8 tokens, then whatever
// the decoder made of them is sent). `structural` lists special-token texts to keep as text because
// a later stage parses them (<think>, tool-call markers); other special tokens vanish.
class IncrementalDecoder {
 public:
  IncrementalDecoder(const Tokenizer& tok, std::vector<std::string> structural = {});
  std::string push(int32_t id);  // the text that is now final (often all of this token's)
  std::string flush();           // the end: whatever is still pending

 private:
  const Tokenizer& tok_;
  std::vector<std::string> structural_;
  std::vector<int32_t> pending_;
};

// Finds the earliest stop string in the text stream. Text that could still be the start of a stop
// string is held back until it is known not to be one.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);
  struct Result {
    std::string text;      // safe to emit
    bool matched = false;  // a stop string was found: `text` ends right before it; stop generating
  };
  Result push(std::string_view text);
  std::string flush();  // the end without a match: the held-back tail
  bool empty() const { return stops_.empty(); }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool done_ = false;
};

// Holds back the longest suffix of `buf` that is a proper prefix of `marker`; returns its length.
size_t partial_marker_suffix(std::string_view buf, std::string_view marker);

struct ChatDelta {
  std::string reasoning, content;
};

class ReasoningSplitter {
 public:
  // in_reasoning: the prompt ended inside an open <think> block (R1 templates pre-fill "<think>\n").
  explicit ReasoningSplitter(bool in_reasoning);
  ChatDelta push(std::string_view text);
  ChatDelta flush();

 private:
  enum class State { kStart, kReasoning, kContentStart, kContent } state_;
  std::string held_;
  bool strip_ws_ = true;  // leading whitespace of the reasoning is dropped, as DeepSeek's API does
  ChatDelta drain(bool final);
};

struct ToolCall {
  std::string id, name, arguments;
};

// Content text with DeepSeek tool calls:
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>
//   ... <｜tool▁calls▁end｜>
// (V3.1 writes NAME<｜tool▁sep｜>ARGS without type and fences; both parse.) Text before the block is
// content; each call is reported once complete; an unfinished block at the end is returned as content.
class ToolCallParser {
 public:
  struct Delta {
    std::string content;
    std::vector<ToolCall> calls;
  };
  Delta push(std::string_view text);
  Delta flush();

 private:
  enum class State { kText, kCalls, kAfter } state_ = State::kText;
  std::string held_;   // kText: a possible start of the begin marker; kCalls: the unparsed block
  std::string block_;  // the raw block so far (returned as content if it never completes)
  int n_calls_ = 0;
  Delta drain_calls();
};

// Parses one call body ("function<｜tool▁sep｜>NAME\n```json\nARGS\n```" or "NAME<｜tool▁sep｜>ARGS").
// False when it has no separator or no name.
bool parse_tool_call(std::string_view body, ToolCall& out);

std::string new_tool_call_id();  // "call_" + 24 random hex digits

}  // namespace frugal::serve
