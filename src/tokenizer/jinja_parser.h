// Jinja parser: tokens -> syntax tree. Statements: if/elif/else, for (tuple targets, inline `if`,
// else), set (variable, namespace attribute, tuple, block form), macro, filter blocks, do,
// break/continue, generation (ignored markers). Expressions follow Jinja's precedence:
// ternary < or < and < not < comparison/in/is < ~ < + - < * / // % < ** < unary < filters/tests
// < postfix (attribute, subscript, slice, call).
#pragma once
#include <string_view>

#include "tokenizer/jinja_ast.h"

namespace frugal::jinja {

// Throws frugal::Error (kFormat) with "template line N" for syntax errors and unknown constructs.
// Nesting deeper than `max_depth` (parentheses, blocks) is an error, not a stack overflow.
NodePtr parse_template(std::string_view source, int max_depth = 256);

}  // namespace frugal::jinja
