// Jinja syntax tree: one node type; `kind` says how the fields are used (see each enumerator).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_value.h"

namespace frugal::jinja {

struct Node;
using NodePtr = std::unique_ptr<Node>;

enum class NodeKind {
  // expressions
  kLiteral,  // value
  kName,     // name
  kList,     // kids = items
  kTuple,    // kids = items
  kDict,     // kids = key0, value0, key1, value1, ...
  kGetAttr,  // kids[0] = object, name = attribute
  kGetItem,  // kids[0] = object, kids[1] = key
  kSlice,    // kids[0] = object, kids[1..3] = start, stop, step (each may be null)
  kCall,     // kids[0] = callee, kids[1..] = positional args, kwargs
  kFilter,   // name, kids[0] = operand (null in a filter block), kids[1..] = args, kwargs
  kTest,     // name, kids[0] = operand, kids[1..] = args, negated
  kUnary,    // name = "not" | "-" | "+", kids[0]
  kBinary,   // name = operator (and/or included), kids[0], kids[1]
  kCond,     // kids[0] = value if true, kids[1] = condition, kids[2] = value if false (may be null)
  // statements
  kBlock,        // kids = statements
  kText,         // name = text
  kOutput,       // kids[0] = expression
  kIf,           // kids = cond0, body0, cond1, body1, ..., [null, else-body]
  kFor,          // names = targets, kids[0] = iterable, kids[1] = body, kids[2] = else (may be null),
                 // kids[3] = inline `if` filter (may be null)
  kSet,          // kids[0] = value, kids[1] = target (kName, kGetAttr or kTuple of kName)
  kSetBlock,     // name = variable, kids[0] = body
  kMacro,        // name, names = parameters, kids[0] = body, kids[1..] = defaults (null = none)
  kBreak,
  kContinue,
  kDo,           // kids[0] = expression, result dropped
  kFilterBlock,  // kids[0] = body, kids[1] = kFilter node with a null operand
};

struct Node {
  NodeKind kind;
  int line = 0;
  std::string name;
  Value value;
  std::vector<NodePtr> kids;
  std::vector<std::string> names;
  std::vector<std::pair<std::string, NodePtr>> kwargs;
  bool negated = false;

  Node(NodeKind k, int l) : kind(k), line(l) {}
};

}  // namespace frugal::jinja
