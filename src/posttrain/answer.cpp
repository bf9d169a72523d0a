#include "posttrain/answer.h"

#include <cctype>

namespace frugal {

namespace {

constexpr std::string_view kOpen = "<think>", kClose = "</think>";
constexpr std::string_view kAnswerOpen = "<answer>", kAnswerClose = "</answer>";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

size_t count(std::string_view s, std::string_view needle) {
  size_t n = 0;
  for (size_t at = s.find(needle); at != std::string_view::npos; at = s.find(needle, at + needle.size())) ++n;
  return n;
}

}  // namespace

bool prompt_prefills_think(std::string_view prompt_text) {
  const std::string_view t = trim(prompt_text);
  return t.size() >= kOpen.size() && t.substr(t.size() - kOpen.size()) == kOpen;
}

ParsedCompletion parse_completion(std::string_view completion, bool think_prefilled) {
  ParsedCompletion p;
  const size_t close = completion.rfind(kClose);
  std::string_view answer = close == std::string_view::npos ? completion : completion.substr(close + kClose.size());
  answer = trim(answer);
  if (answer.size() >= kAnswerOpen.size() + kAnswerClose.size() && answer.starts_with(kAnswerOpen) &&
      answer.ends_with(kAnswerClose))
    answer = trim(answer.substr(kAnswerOpen.size(), answer.size() - kAnswerOpen.size() - kAnswerClose.size()));
  p.answer = answer;

  // Format: [<think> unless pre-filled] reasoning </think> answer, each tag exactly once.
  const std::string_view body = trim(completion);
  const size_t opens = count(body, kOpen), closes = count(body, kClose);
  bool opening_ok;
  if (think_prefilled)
    opening_ok = opens == 0;
  else
    opening_ok = opens == 1 && body.starts_with(kOpen);
  p.formatted = opening_ok && closes == 1 && !answer.empty() && answer.find(kAnswerOpen) == std::string_view::npos &&
                answer.find(kAnswerClose) == std::string_view::npos;
  return p;
}

std::optional<int64_t> parse_exact_int(std::string_view s) {
  s = trim(s);
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return neg ? -v : v;
}

std::optional<std::vector<int64_t>> parse_int_list(std::string_view s) {
  s = trim(s);
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = trim(s.substr(1, s.size() - 2));
  std::vector<int64_t> out;
  size_t i = 0;
  bool need_item = true;  // at the start and after a comma an item must follow
  while (i < s.size()) {
    if (is_space(s[i])) {
      ++i;
      continue;
    }
    if (s[i] == ',') {
      if (need_item) return std::nullopt;  // ",1" or "1,,2"
      need_item = true;
      ++i;
      continue;
    }
    size_t j = i;
    if (s[j] == '-' || s[j] == '+') ++j;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    const std::optional<int64_t> v = parse_exact_int(s.substr(i, j - i));
    if (!v || out.size() >= 4096) return std::nullopt;
    if (j < s.size() && !is_space(s[j]) && s[j] != ',') return std::nullopt;  // "12-3", "4x"
    out.push_back(*v);
    need_item = false;
    i = j;
  }
  if (out.empty() || need_item) return std::nullopt;  // empty, or a trailing comma
  return out;
}

}  // namespace frugal
