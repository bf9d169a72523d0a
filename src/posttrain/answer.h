// Reading a completion the way the rule-based rewards do (docs/posttrain.md, Answer format and prompts):
//   <think> reasoning </think> answer
// The answer is the text after the last </think>, trimmed, with one optional <answer>…</answer>
// wrapper removed; a completion without </think> is read as all answer (the format reward, not
// the accuracy reward, is what asks for the tags). Chat templates that pre-fill "<think>\n" in the
// prompt (DeepSeek-R1-0528 style) leave the opening tag out of the completion: think_prefilled
// says so, and the format check then counts the tag as present.
//
// Parsers here never throw on model output: a completion that does not parse is a wrong answer.
#pragma once
#include "core/strings.h"  // trim
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace frugal {

struct ParsedCompletion {
  bool formatted = false;   // exactly one <think> (first, after whitespace) and one </think> after it, then an answer
  std::string_view answer;  // trimmed answer text (a view into the completion)
};

ParsedCompletion parse_completion(std::string_view completion, bool think_prefilled);

// True when the prompt text ends with an opening <think> tag (and whitespace): the model's
// completion then starts inside the reasoning.
bool prompt_prefills_think(std::string_view prompt_text);

// An integer written exactly: optional sign, 1 to 18 digits, nothing else (surrounding whitespace
// allowed). "42", "-7", "+3"; not "4 2", "42.", "1,000", "0x1F".
std::optional<int64_t> parse_exact_int(std::string_view s);

// A list of integers separated by commas and/or whitespace, optionally in [ ] brackets:
// "1, 2, 3", "[1,2,3]", "1 2 3". Empty or malformed text (a stray character, an empty item
// between two commas, more than 4096 items) is nullopt.
std::optional<std::vector<int64_t>> parse_int_list(std::string_view s);

}  // namespace frugal
