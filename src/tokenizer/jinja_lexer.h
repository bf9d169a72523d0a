// Jinja lexer: template text -> tokens, with Jinja's whitespace control applied to the text
// between tags: `{%-`/`-%}` (and the `{{ }}`/`{# #}` forms) strip all whitespace on that side,
// trim_blocks drops the first newline after a block or comment tag, lstrip_blocks drops spaces and
// tabs between the start of a line and a block or comment tag (`{%+` opts out), and a single
// trailing newline of the template is dropped. Hugging Face renders chat templates with
// trim_blocks and lstrip_blocks on (both transformers and @huggingface/jinja), so those are the
// defaults.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace frugal::jinja {

enum class Tok {
  kText,        // literal template text (whitespace control already applied)
  kExprBegin,   // {{
  kExprEnd,     // }}
  kStmtBegin,   // {%
  kStmtEnd,     // %}
  kName,        // identifier or keyword
  kString,      // string literal (value unescaped)
  kInt,
  kFloat,
  kOp,          // punctuation / operator: ( ) [ ] { } , . : | ~ + - * / // % ** = == != < > <= >=
  kEof,
};

struct Token {
  Tok kind;
  std::string text;  // text, name, unescaped string value, number text or operator
  int line = 1;
};

struct LexOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};

// Throws frugal::Error (kFormat) naming the template line for unterminated tags, strings or
// comments and for characters that are not part of the expression language.
std::vector<Token> tokenize(std::string_view source, const LexOptions& opts = {});

}  // namespace frugal::jinja
