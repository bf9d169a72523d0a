#include "serve/openai_choice.h"

#include <algorithm>

namespace frugal::serve {

namespace {

std::vector<std::string> structural_tokens(const ParsedRequest& req) {
  std::vector<std::string> out;
  if (req.reasoning) out = {std::string(kThinkBegin), std::string(kThinkEnd)};
  if (req.parse_tools)
    for (std::string_view m : {kToolCallsBegin, kToolCallsEnd, kToolCallBegin, kToolCallEnd, kToolSep})
      out.emplace_back(m);
  return out;
}

}  // namespace

ChoiceOutput::ChoiceOutput(const ParsedRequest& req, const ServedModel& model, int index)
    : req_(req), index_(index), decoder_(*model.tokenizer, structural_tokens(req)), stop_(req.stop),
      start_(std::chrono::steady_clock::now()) {
  if (req.reasoning) reasoning_split_.emplace(req.prompt_in_reasoning);
  if (req.parse_tools) tool_parser_.emplace();
  prompt_tokens_ = int64_t(req.gen.prompt.size());
}

void ChoiceOutput::add_calls(std::vector<ToolCall>& calls, ChoiceDelta& d) {
  for (ToolCall& c : calls) {
    if (!req_.parallel_tool_calls && !calls_.empty()) break;  // parallel_tool_calls: false keeps the first
    if (d.calls.empty()) d.call_index = int(calls_.size());
    calls_.push_back(c);
    d.calls.push_back(std::move(c));
  }
}

void ChoiceOutput::feed(std::string_view text, ChoiceDelta& d) {
  if (text.empty()) return;
  std::string content(text);
  if (reasoning_split_) {
    ChatDelta r = reasoning_split_->push(text);
    d.reasoning += r.reasoning;
    content = std::move(r.content);
  }
  if (tool_parser_) {
    ToolCallParser::Delta t = tool_parser_->push(content);
    d.content += t.content;
    add_calls(t.calls, d);
  } else {
    d.content += content;
  }
}

void ChoiceOutput::finish_stages(ChoiceDelta& d) {
  std::string content;
  if (reasoning_split_) {
    ChatDelta r = reasoning_split_->flush();
    d.reasoning += r.reasoning;
    content = std::move(r.content);
  }
  if (tool_parser_) {
    ToolCallParser::Delta t = tool_parser_->push(content);
    ToolCallParser::Delta f = tool_parser_->flush();
    d.content += t.content + f.content;
    add_calls(t.calls, d);
    add_calls(f.calls, d);
  } else {
    d.content += content;
  }
}

void ChoiceOutput::record(const ChoiceDelta& d) {
  reasoning_ += d.reasoning;
  content_ += d.content;
  logprobs_.insert(logprobs_.end(), d.logprobs.begin(), d.logprobs.end());
}

ChoiceDelta ChoiceOutput::on_event(const TokenEvent& ev) {
  ChoiceDelta d;
  if (finished_) return d;
  cached_tokens_ = std::max(cached_tokens_, ev.cached_prompt_tokens);
  if (ev.prompt_tokens > 0) prompt_tokens_ = ev.prompt_tokens;
  if (ev.token >= 0) {
    last_ = std::chrono::steady_clock::now();
    if (completion_tokens_ == 0) first_ = last_;
    ++completion_tokens_;
    const bool is_stop_id = std::find(req_.gen.stop_ids.begin(), req_.gen.stop_ids.end(), ev.token) !=
                            req_.gen.stop_ids.end();
    // A stop id ends the choice without becoming text (finish_reason "stop").
    if (!(is_stop_id && ev.finish == FinishReason::kStop)) {
      if (req_.logprobs) d.logprobs.push_back(LogprobEntry{ev.token, ev.logprob, ev.top_logprobs});
      StopMatcher::Result s = stop_.push(decoder_.push(ev.token));
      feed(s.text, d);
      if (s.matched) {
        stop_matched_ = true;
        finished_ = true;
        finish_ = FinishReason::kStop;
        finish_stages(d);
        record(d);
        return d;
      }
    }
  }
  if (ev.finish != FinishReason::kNone) finish_into(ev.finish, ev.error, d);
  record(d);
  return d;
}

ChoiceDelta ChoiceOutput::finish_now(FinishReason why, const std::string& error) {
  ChoiceDelta d;
  if (finished_) return d;
  finish_into(why, error, d);
  record(d);
  return d;
}

void ChoiceOutput::finish_into(FinishReason why, const std::string& error, ChoiceDelta& d) {
  finished_ = true;
  finish_ = why;
  error_ = error;
  StopMatcher::Result s = stop_.push(decoder_.flush());  // the flushed tail may still hold a stop string
  feed(s.text, d);
  if (s.matched) {
    finish_ = FinishReason::kStop;
  } else {
    feed(stop_.flush(), d);
  }
  finish_stages(d);
}

std::string ChoiceOutput::finish_reason() const {
  switch (finish_) {
    case FinishReason::kStop: return calls_.empty() ? "stop" : "tool_calls";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
    default: return "";
  }
}

double ChoiceOutput::first_token_seconds() const {
  return completion_tokens_ == 0 ? 0.0 : std::chrono::duration<double>(first_ - start_).count();
}

double ChoiceOutput::decode_seconds() const {
  return completion_tokens_ < 2 ? 0.0 : std::chrono::duration<double>(last_ - first_).count();
}

}  // namespace frugal::serve
