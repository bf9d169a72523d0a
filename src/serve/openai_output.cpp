#include "serve/openai_output.h"
#include "core/strings.h"

#include <algorithm>
#include <random>

namespace frugal::serve {

namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
std::string_view trim_json_space(std::string_view s) { return trim(s, " \n\r\t"); }  // JSON's whitespace

bool ends_with_replacement(const std::string& s) {
  return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

}  // namespace

// ---- IncrementalDecoder ------------------------------------------------------------------------

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tok, std::vector<std::string> structural)
    : tok_(tok), structural_(std::move(structural)) {}

std::string IncrementalDecoder::push(int32_t id) {
  if (!structural_.empty() && tok_.is_special(id)) {
    auto text = tok_.id_to_token(id);
    if (text && std::find(structural_.begin(), structural_.end(), *text) != structural_.end()) {
      std::string out = flush();
      out += *text;
      return out;
    }
  }
  // The same rule as `frugal generate`, so that at temperature 0 the texts are byte-identical: a
  // decode ending in U+FFFD may be a character cut between tokens, so it waits (up to 8 tokens).
  pending_.push_back(id);
  std::string piece = tok_.decode(pending_, true);
  if (ends_with_replacement(piece) && pending_.size() < 8) return {};
  pending_.clear();
  return piece;
}

std::string IncrementalDecoder::flush() {
  if (pending_.empty()) return {};
  std::string piece = tok_.decode(pending_, true);
  pending_.clear();
  return piece;
}

// ---- StopMatcher -------------------------------------------------------------------------------

size_t partial_marker_suffix(std::string_view buf, std::string_view marker) {
  const size_t max_k = std::min(buf.size(), marker.empty() ? 0 : marker.size() - 1);
  for (size_t k = max_k; k > 0; --k)
    if (buf[buf.size() - k] == marker[0] && buf.substr(buf.size() - k) == marker.substr(0, k)) return k;
  return 0;
}

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

StopMatcher::Result StopMatcher::push(std::string_view text) {
  Result r;
  if (done_) return r;
  if (stops_.empty()) {
    r.text = text;
    return r;
  }
  held_ += text;
  size_t best = std::string::npos;
  for (const std::string& s : stops_) best = std::min(best, held_.find(s));
  if (best != std::string::npos) {
    r.text = held_.substr(0, best);
    r.matched = true;
    done_ = true;
    held_.clear();
    return r;
  }
  size_t hold = 0;
  for (const std::string& s : stops_) hold = std::max(hold, partial_marker_suffix(held_, s));
  r.text = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return r;
}

std::string StopMatcher::flush() {
  std::string out;
  out.swap(held_);
  return done_ ? std::string() : out;
}

// ---- ReasoningSplitter -------------------------------------------------------------------------

ReasoningSplitter::ReasoningSplitter(bool in_reasoning)
    : state_(in_reasoning ? State::kReasoning : State::kStart) {}

ChatDelta ReasoningSplitter::push(std::string_view text) {
  held_ += text;
  return drain(false);
}

ChatDelta ReasoningSplitter::flush() { return drain(true); }

ChatDelta ReasoningSplitter::drain(bool final) {
  ChatDelta d;
  for (bool progress = true; progress;) {
    progress = false;
    switch (state_) {
      case State::kStart: {
        size_t ws = 0;
        while (ws < held_.size() && is_space(held_[ws])) ++ws;
        const std::string_view rest = std::string_view(held_).substr(ws);
        if (rest.substr(0, kThinkBegin.size()) == kThinkBegin) {
          held_.erase(0, ws + kThinkBegin.size());
          state_ = State::kReasoning;
          progress = true;
        } else if (!final && (rest.empty() || kThinkBegin.substr(0, rest.size()) == rest)) {
          // not known yet: "<thi" may still become "<think>"
        } else {
          held_.erase(0, ws);
          state_ = State::kContent;
          progress = true;
        }
        break;
      }
      case State::kReasoning: {
        if (strip_ws_) {  // drop whitespace right after the opening tag ("<think>\n")
          size_t ws = 0;
          while (ws < held_.size() && is_space(held_[ws])) ++ws;
          held_.erase(0, ws);
          if (!held_.empty()) strip_ws_ = false;
        }
        const size_t end = held_.find(kThinkEnd);
        if (end != std::string::npos) {
          d.reasoning.append(held_, 0, end);
          held_.erase(0, end + kThinkEnd.size());
          state_ = State::kContentStart;
          progress = true;
        } else {
          const size_t hold = final ? 0 : partial_marker_suffix(held_, kThinkEnd);
          d.reasoning.append(held_, 0, held_.size() - hold);
          held_.erase(0, held_.size() - hold);
        }
        break;
      }
      case State::kContentStart: {
        size_t ws = 0;
        while (ws < held_.size() && is_space(held_[ws])) ++ws;
        held_.erase(0, ws);
        if (!held_.empty()) {
          state_ = State::kContent;
          progress = true;
        }
        break;
      }
      case State::kContent:
        d.content += held_;
        held_.clear();
        break;
    }
  }
  return d;
}

// ---- ToolCallParser ----------------------------------------------------------------------------

bool parse_tool_call(std::string_view body, ToolCall& out) {
  const size_t sep = body.find(kToolSep);
  if (sep == std::string_view::npos) return false;
  const std::string_view before = trim_json_space(body.substr(0, sep));
  std::string_view after = body.substr(sep + kToolSep.size());
  std::string_view name, args;
  if (before.empty() || before == "function") {  // V3: NAME\n```json\nARGS\n```
    const size_t nl = after.find('\n');
    name = trim_json_space(after.substr(0, nl));
    args = nl == std::string_view::npos ? std::string_view() : after.substr(nl + 1);
  } else {  // V3.1: NAME<｜tool▁sep｜>ARGS
    name = before;
    args = after;
  }
  args = trim_json_space(args);
  if (args.substr(0, 3) == "```") {  // drop the ```json fence line and the closing fence
    const size_t nl = args.find('\n');
    args = nl == std::string_view::npos ? std::string_view() : args.substr(nl + 1);
    if (args.size() >= 3 && args.substr(args.size() - 3) == "```") args.remove_suffix(3);
    args = trim_json_space(args);
  }
  if (name.empty()) return false;
  out.name = std::string(name);
  out.arguments = args.empty() ? "{}" : std::string(args);
  out.id = new_tool_call_id();
  return true;
}

std::string new_tool_call_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kHex[rng() & 15];
  return id;
}

ToolCallParser::Delta ToolCallParser::push(std::string_view text) {
  Delta d;
  if (state_ == State::kAfter) {
    d.content = text;
    return d;
  }
  held_ += text;
  if (state_ == State::kText) {
    const size_t p = held_.find(kToolCallsBegin);
    if (p == std::string::npos) {
      const size_t hold = partial_marker_suffix(held_, kToolCallsBegin);
      d.content = held_.substr(0, held_.size() - hold);
      held_.erase(0, held_.size() - hold);
      return d;
    }
    d.content = held_.substr(0, p);
    held_.erase(0, p + kToolCallsBegin.size());
    block_ = std::string(kToolCallsBegin) + held_;
    state_ = State::kCalls;
  } else {
    block_ += text;
  }
  Delta calls = drain_calls();
  d.content += calls.content;
  d.calls = std::move(calls.calls);
  return d;
}

ToolCallParser::Delta ToolCallParser::drain_calls() {
  Delta d;
  for (;;) {
    const size_t b = held_.find(kToolCallBegin), e_all = held_.find(kToolCallsEnd);
    if (e_all != std::string::npos && (b == std::string::npos || e_all < b)) {
      d.content += held_.substr(e_all + kToolCallsEnd.size());  // text after the block (normally none)
      held_.clear();
      state_ = State::kAfter;
      return d;
    }
    if (b == std::string::npos) return d;
    const size_t e = held_.find(kToolCallEnd, b);
    if (e == std::string::npos) return d;
    const std::string_view body = std::string_view(held_).substr(b + kToolCallBegin.size(), e - b - kToolCallBegin.size());
    ToolCall call;
    if (parse_tool_call(body, call)) {
      d.calls.push_back(std::move(call));
      ++n_calls_;
    } else {
      d.content.append(held_, b, e + kToolCallEnd.size() - b);  // not a call we understand: keep it visible
    }
    held_.erase(0, e + kToolCallEnd.size());
  }
}

ToolCallParser::Delta ToolCallParser::flush() {
  Delta d;
  if (state_ == State::kCalls) d.content = n_calls_ == 0 ? block_ : held_;  // an unfinished block stays visible
  else if (state_ == State::kText) d.content = held_;
  held_.clear();
  block_.clear();
  return d;
}

}  // namespace frugal::serve
