// One choice of a request: the engine's token events in, deltas for the client out (the pipeline of
// openai_output.h), plus the totals a non-streaming response and the usage block need.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "infer/engine.h"
#include "serve/openai_model.h"
#include "serve/openai_output.h"
#include "serve/openai_request.h"

namespace frugal::serve {

struct LogprobEntry {
  int32_t token = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;
};

struct ChoiceDelta {
  std::string reasoning, content;
  std::vector<ToolCall> calls;
  int call_index = 0;  // the index of calls[0] among the choice's tool calls (stream deltas carry it)
  std::vector<LogprobEntry> logprobs;
  bool empty() const { return reasoning.empty() && content.empty() && calls.empty() && logprobs.empty(); }
};

class ChoiceOutput {
 public:
  ChoiceOutput(const ParsedRequest& req, const ServedModel& model, int index);

  // One engine event -> what to send now. After the event that ends the choice (its finish, a stop
  // string, an error) finished() is true and later events are ignored.
  ChoiceDelta on_event(const TokenEvent& ev);
  // Ends the choice from outside (server shutdown, client gone): flushes what is held back.
  ChoiceDelta finish_now(FinishReason why, const std::string& error = "");

  int index() const { return index_; }
  bool finished() const { return finished_; }
  bool stop_matched() const { return stop_matched_; }  // the engine must be told to stop
  // "stop", "length", "tool_calls", "cancelled" or "error".
  std::string finish_reason() const;
  const std::string& error() const { return error_; }

  // Totals so far (for the non-streaming response).
  const std::string& reasoning() const { return reasoning_; }
  const std::string& content() const { return content_; }
  const std::vector<ToolCall>& tool_calls() const { return calls_; }
  const std::vector<LogprobEntry>& logprobs() const { return logprobs_; }
  int64_t completion_tokens() const { return completion_tokens_; }
  int64_t prompt_tokens() const { return prompt_tokens_; }
  int64_t cached_tokens() const { return cached_tokens_; }
  double first_token_seconds() const;  // arrival -> first token (0 before it)
  double decode_seconds() const;       // first token -> last token

 private:
  void feed(std::string_view text, ChoiceDelta& d);  // stop-checked text -> reasoning / content / calls
  void finish_stages(ChoiceDelta& d);
  void finish_into(FinishReason why, const std::string& error, ChoiceDelta& d);
  void add_calls(std::vector<ToolCall>& calls, ChoiceDelta& d);
  void record(const ChoiceDelta& d);

  const ParsedRequest& req_;
  int index_;
  IncrementalDecoder decoder_;
  StopMatcher stop_;
  std::optional<ReasoningSplitter> reasoning_split_;
  std::optional<ToolCallParser> tool_parser_;
  bool finished_ = false, stop_matched_ = false;
  FinishReason finish_ = FinishReason::kNone;
  std::string error_;
  std::string reasoning_, content_;
  std::vector<ToolCall> calls_;
  std::vector<LogprobEntry> logprobs_;
  int64_t completion_tokens_ = 0, prompt_tokens_ = 0, cached_tokens_ = 0;
  std::chrono::steady_clock::time_point start_, first_, last_;
};

}  // namespace frugal::serve
