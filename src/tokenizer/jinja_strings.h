// Helpers shared by the chat-template built-ins (jinja_builtins.cpp, jinja_methods.cpp).
#pragma once
#include <string>
#include <vector>

#include "tokenizer/jinja_interp.h"

namespace frugal::jinja {

const Value* kwarg(const CallArgs& a, const char* name);
// Positional argument `index` or keyword `name`, else `fallback`.
Value arg(const CallArgs& a, size_t index, const char* name, Value fallback = Value::undefined());
std::string need_string(Interpreter& in, const Value& v, int line, const char* what);
// UTF-8 code points (a stray byte counts as one).
std::vector<std::string> code_points(const std::string& s);
bool is_space(char c);
// Python str.strip/lstrip/rstrip: `chars` a string, or none/undefined for whitespace.
std::string strip(const std::string& s, const Value& chars, bool left, bool right);
std::string replace_all(Interpreter& in, const std::string& s, const std::string& from, const std::string& to,
                        int64_t count, int line);
// Python str.split(sep=None, maxsplit=-1).
Value split(Interpreter& in, const std::string& s, const Value& sep, int64_t maxsplit, int line);
bool prefix_match(Interpreter& in, const std::string& s, const Value& p, bool at_start, int line);
std::string title_case(const std::string& s, bool only_first);
std::string lower(std::string s);
std::string upper(std::string s);
int compare_values(Interpreter& in, const Value& a, const Value& b, int line);
// item.a.b (dict keys / list indices), undefined when missing.
Value attribute_of(const Value& item, const std::string& path);
// Iterable -> items (list items, dict keys, string characters; undefined -> empty).
List as_items(Interpreter& in, const Value& v, int line, const char* what);

}  // namespace frugal::jinja
