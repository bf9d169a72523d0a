// The chat-template Jinja interpreter: language features (expected strings are Python Jinja2's
// output with trim_blocks/lstrip_blocks, as transformers renders), whitespace control, an R1-style
// and a Llama-3-style template, and bad input (syntax errors, endless loops and recursion, huge
// output, dunder attributes) ending in clear errors that name the template line.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/chat_template.h"
#include "test_util.h"

namespace frugal {
namespace {

std::string render(const std::string& tmpl, const std::string& ctx = "{}", const ChatTemplateLimits& limits = {}) {
  return ChatTemplate(tmpl).render(nlohmann::ordered_json::parse(ctx), limits);
}

using test::error_of;

struct Case {
  const char* tmpl;
  const char* ctx;
  const char* want;
};

const Case kCases[] = {
    {"{% for x in xs %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}",
     R"({"xs": [1, 2, 3]})",
     "11,22,33"},
    {"{% for x in xs if x > 1 %}{{ loop.index0 }}/{{ loop.length }}:{{ x }} {% else %}none{% endfor %}",
     R"({"xs": [1, 2, 3]})",
     "0/2:2 1/2:3 "},
    {"{% for x in [] %}a{% else %}empty{% endfor %}",
     R"({})",
     "empty"},
    {"{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
     R"({"d": {"b": 1, "a": 2}})",
     "b=1;a=2;"},
    {"{% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}",
     R"({"xs": [1, 2, 3, 4, 5]})",
     "13"},
    {"{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }}",
     R"({})",
     "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b c']"},
    {"{{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '\\n\\nhi\\n'.lstrip('\\n') }}|{{ 'hi  '.rstrip() }}",
     R"({})",
     "x|hi|hi\n|hi"},
    {"{{ 'Hello'.startswith('He') }} {{ 'Hello'.endswith(('lo','x')) }} {{ 'hello world'.title() }} {{ 'hello'.upper() }}",
     R"({})",
     "True True Hello World HELLO"},
    {"{{ xs[1:] }} {{ xs[:-1] }} {{ xs[::-1] }} {{ xs[::2] }} {{ 'héllo'[1:3] }} {{ 'abc'[-1] }}",
     R"({"xs": [1, 2, 3, 4]})",
     "[2, 3, 4] [1, 2, 3] [4, 3, 2, 1] [1, 3] él c"},
    {"{{ xs|length }} {{ 'héllo'|length }} {{ d|length }} {{ xs|first }} {{ xs|last }} {{ xs|join('-') }} {{ xs|sum }}",
     R"({"xs": [1, 2, 3], "d": {"a": 1}})",
     "3 5 1 1 3 1-2-3 6"},
    {"{{ x|default('dflt') }} {{ none|default('n') }} {{ ''|default('e', true) }} {{ y is defined }} {{ x is defined }}",
     R"({"y": 1})",
     "dflt None e True False"},
    {"{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 1.5 + 1 }} {{ 4 / 2 }}",
     R"({})",
     "7 3 -4 1 2 1024 3.5 2.5 2.0"},
    {"{{ 'a' ~ 1 ~ none }} {{ 'a' + 'b' }} {{ [1] + [2] }} {{ 'ab' * 3 }}",
     R"({})",
     "a1None ab [1, 2] ababab"},
    {"{{ 'b' in 'abc' }} {{ 2 in [1,2] }} {{ 'a' in {'a':1} }} {{ 3 not in [1] }}",
     R"({})",
     "True True True True"},
    {"{{ x if x else 'no' }} {{ 'yes' if 1 > 2 else 'no' }} {{ none is none }} {{ 1 is number }} {{ 'x' is string }} {{ [1] is iterable }} {{ {} is mapping }}",
     R"({"x": 0})",
     "no no True True True True True"},
    {"{% set ns = namespace(a=1, b='x') %}{% for i in range(3) %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}{{ ns.b }}",
     R"({})",
     "4x"},
    {"{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(name='C', punct='.') }}",
     R"({})",
     "Hi A! Hi B? Hi C."},
    {"{%- set x = 5 -%}\n  {{ x }}  \n{%- if true %}\n   yes\n{% endif %}\n  done\n",
     R"({})",
     "5   yes\n  done"},
    {"a\n  {% if true %}\n  b\n  {% endif %}\nc\n",
     R"({})",
     "a\n  b\nc"},
    {"{# comment #}\nx {#- c2 -#} y\n{% raw %}{{ not }}{% endraw %}",
     R"({})",
     "xy\n{{ not }}"},
    {"{{ d|tojson }} {{ xs|tojson }} {{ 's\"q\\n'|tojson }} {{ none|tojson }} {{ true|tojson }} {{ 1.5|tojson }}",
     R"({"d": {"b": [1, {"c": null}], "a": "é"}, "xs": []})",
     "{\"b\": [1, {\"c\": null}], \"a\": \"é\"} [] \"s\\\"q\\n\" null true 1.5"},
    {"{{ d|tojson(indent=2) }}",
     R"({"d": {"b": [1, 2], "a": {}}})",
     "{\n  \"b\": [\n    1,\n    2\n  ],\n  \"a\": {}\n}"},
    {"{{ xs|map(attribute='n')|join(',') }} {{ xs|selectattr('n','gt',1)|list|length }} {{ xs|rejectattr('n','equalto',1)|map(attribute='n')|list }}",
     R"({"xs": [{"n": 1}, {"n": 2}, {"n": 3}]})",
     "1,2,3 2 [2, 3]"},
    {"{{ [3,1,2]|sort }} {{ ['b','A','c']|sort }} {{ [3,1,2]|sort(reverse=true) }} {{ [1,2,1]|unique|list }} {{ [1,2]|reverse|list }}",
     R"({})",
     "[1, 2, 3] ['A', 'b', 'c'] [3, 2, 1] [1, 2] [2, 1]"},
    {"{{ 'x\ny'|indent(2) }}|{{ 'a b  c'|wordcount }}|{{ '<a>'|e }}|{{ '3'|int + 1 }}|{{ '2.5'|float }}|{{ 3.7|int }}|{{ 2.567|round(2) }}",
     R"({})",
     "x\n  y|3|&lt;a&gt;|4|2.5|3|2.57"},
    {"{{ messages[0]['role'] }} {{ messages[0].role }} {{ messages[-1].content }} {{ messages|length }}",
     R"({"messages": [{"role": "system", "content": "a"}, {"role": "user", "content": "b"}]})",
     "system system b 2"},
    {"{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set s %}block {{ a }}{% endset %}[{{ s }}]",
     R"({})",
     "12[block 1]"},
    {"{{ 'a' == 'a' and 1 < 2 or false }} {{ not 1 }} {{ 1 != 1.0 }} {{ [1,2] == [1,2] }}",
     R"({})",
     "True False False True"},
    {"{% if x is none %}N{% elif x is string %}S{% elif x is number %}D{% else %}O{% endif %}",
     R"({"x": 3})",
     "D"},
    {"{{ d.get('a') }} {{ d.get('z', 'dz') }} {{ d.keys()|list }} {{ d.values()|list }}",
     R"({"d": {"a": 1, "b": 2}})",
     "1 dz ['a', 'b'] [1, 2]"},
    {"{{ 'abc'.replace('b','X') }} {{ 'aaa'|replace('a','b', 2) }} {{ 'abcabc'.find('c') }} {{ '-'.join(['a','b']) }}",
     R"({})",
     "aXc bba 2 a-b"},
    {"{{ range(3)|list }} {{ range(1,7,2)|list }} {{ range(5,0,-2)|list }}",
     R"({})",
     "[0, 1, 2] [1, 3, 5] [5, 3, 1]"},
    {"{{ xs[5] is defined }} {{ d.missing is defined }} {{ d['x'] }}",
     R"({"xs": [1], "d": {"x": "y"}})",
     "False False y"},
    {"{% for m in messages %}{{ loop.previtem is defined }}{{ loop.nextitem is defined }}{{ loop.revindex }}{% endfor %}",
     R"({"messages": [1, 2]})",
     "FalseTrue2TrueFalse1"},
    {"{% filter upper %}hi {{ x }}{% endfilter %}",
     R"({"x": "there"})",
     "HI THERE"},
    {"{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 10 / 4 }} {{ 1e3 }} {{ -0.5 }}",
     R"({})",
     "1.0 0.30000000000000004 2.5 1000.0 -0.5"},
    {"{{ [1, 'a', none, true, 1.5] }} {{ {'a': 'b'} }} {{ true }} {{ none }}",
     R"({})",
     "[1, 'a', None, True, 1.5] {'a': 'b'} True None"},
    {"{{ \"it's\" }} {{ ['it\\'s'] }}",
     R"({})",
     "it's [\"it's\"]"},
    {"{%- for x in xs -%}\n  {{ x }}\n{%- endfor %}",
     R"({"xs": [1, 2]})",
     "12"},
    {"  {%+ if true %}x{% endif %}",
     R"({})",
     "  x"},
    {"{{ 'ab' if false }}|{{ ('a', 'b')|join }}",
     R"({})",
     "|ab"},    {"{% for x in [1, 2 if y else 3, 4] if x > 1 %}{{ x }}{% endfor %}",
     R"({"y": false})",
     "34"},
    {"{% for x in xs|select('odd') if x > 1 %}{{ x }}{% endfor %}{% for x in range(3 if y else 5) %}{{ x }}{% endfor %}",
     R"({"xs": [1, 2, 3, 5], "y": true})",
     "35012"},
    {"{% for x in {'a': 1 if y else 2} %}{{ x }}{% endfor %}",
     R"({"y": true})",
     "a"},
};

TEST(Jinja, LanguageMatchesPythonJinja) {
  for (const Case& c : kCases) EXPECT_EQ(render(c.tmpl, c.ctx), c.want) << "template: " << c.tmpl;
}

TEST(Jinja, HuggingFaceJsConventions) {
  // Integral JSON floats arrive as integers (JavaScript numbers), tojson keeps insertion order,
  // non-ASCII text unescaped and control characters escaped.
  EXPECT_EQ(render("{{ x }} {{ d|tojson }}", R"({"x": 2.0, "d": {"z": 1, "a": "é\u0001"}})"),
            "2 {\"z\": 1, \"a\": \"é\\u0001\"}");
  EXPECT_EQ(render("{{ 'a' + 1 }}"), "a1");  // string + number concatenates
  EXPECT_EQ(render("{% generation %}x{% endgeneration %}"), "x");
  EXPECT_EQ(render("{{ x }}|{{ x|length }}", "{}"), "|0");  // undefined prints nothing
  EXPECT_EQ(render("{% do xs.append(3) %}{{ xs }}", R"({"xs": [1]})"), "[1, 3]");
}

TEST(Jinja, WhitespaceControl) {
  EXPECT_EQ(render("a  {%- if true -%}  b  {%- endif -%}  c"), "abc");
  EXPECT_EQ(render("a  {{- 'b' -}}  c"), "abc");
  EXPECT_EQ(render("{% if true %}\nx\n{% endif %}\n"), "x\n");        // trim_blocks + trailing newline
  EXPECT_EQ(render("  {% if true %}x{% endif %}"), "x");               // lstrip_blocks
  EXPECT_EQ(render("y  {% if true %}x{% endif %}"), "y  x");           // not at line start
  EXPECT_EQ(render("  {{ 'x' }}\n"), "  x");                          // expressions are not lstripped
}

// DeepSeek-R1-style template: reasoning before </think> is dropped from earlier assistant turns and
// the generation prompt opens a <think> block.
const char* kR1Template =
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, system_prompt='', is_first_sp=true) %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}"
    "{% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}"
    "{%- else %}{% set ns.system_prompt = ns.system_prompt + '\\n\\n' + message['content'] %}{%- endif %}"
    "{%- endif %}{%- endfor %}{{ bos_token }}{{ ns.system_prompt }}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and 'tool_calls' not in message %}"
    "{% set content = message['content'] %}{% if '</think>' in content %}"
    "{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}"
    "{%- endfor -%}"
    "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}";

TEST(Jinja, DeepSeekR1StyleTemplate) {
  const std::string ctx = R"({"bos_token": "<BOS>", "add_generation_prompt": true, "messages": [
      {"role": "system", "content": "S1"}, {"role": "system", "content": "S2"},
      {"role": "user", "content": "2+2?"},
      {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"},
      {"role": "user", "content": "3*3?"}]})";
  EXPECT_EQ(render(kR1Template, ctx),
            "<BOS>S1\n\nS2<｜User｜>2+2?<｜Assistant｜>\n\n4<｜end▁of▁sentence｜><｜User｜>3*3?<｜Assistant｜><think>\n");
}

// Llama-3.1-style template: {%- set %}, date_string default, messages[1:], |trim, tojson(indent=4),
// `is mapping`/`is iterable`, raise_exception.
const char* kLlama3Template = R"TMPL({{- bos_token }}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{{- "Today Date: " + date_string + "\n\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- if tools_in_user_message and not tools is none %}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
    {%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
)TMPL";

TEST(Jinja, Llama3StyleTemplate) {
  const std::string ctx = R"({"bos_token": "<|begin_of_text|>", "date_string": "01 Jan 2025",
      "add_generation_prompt": true,
      "tools": [{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}],
      "messages": [{"role": "system", "content": "You are a bot.  "}, {"role": "user", "content": " What time is it?"},
                   {"role": "assistant", "tool_calls": [{"function": {"name": "get_time", "arguments": {}}}]},
                   {"role": "tool", "content": "12:00"}]})";
  EXPECT_EQ(render(kLlama3Template, ctx),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nToday Date: 01 Jan "
            "2025\n\nYou are a bot.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{\n    \"type\": "
            "\"function\",\n    \"function\": {\n        \"name\": \"get_time\",\n        \"parameters\": {\n          "
            "  \"type\": \"object\",\n            \"properties\": {}\n        }\n    }\n}\n\nWhat time is "
            "it?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_time\", \"parameters\": "
            "{}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n\"12:00\"<|eot_id|><|start_header_id|>"
            "assistant<|end_header_id|>\n\n");
  // Without tools or a system message, and the date default.
  EXPECT_EQ(render(kLlama3Template, R"({"bos_token": "<B>", "messages": [{"role": "user", "content": "Hi"}]})"),
            "<B><|start_header_id|>system<|end_header_id|>\n\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>"
            "user<|end_header_id|>\n\nHi<|eot_id|>");
  // raise_exception: the template rejects its input, naming the line.
  const std::string two_calls = R"({"messages": [{"role": "user", "content": "x"}, {"role": "assistant",
      "tool_calls": [{"function": {"name": "a", "arguments": {}}}, {"function": {"name": "b", "arguments": {}}}]}]})";
  const std::string msg = error_of([&] { render(kLlama3Template, two_calls); }, "single tool-calls");
  EXPECT_NE(msg.find("template line 46"), std::string::npos) << msg;
}

TEST(JinjaErrors, SyntaxErrorsNameTheLine) {
  error_of([] { render("line1\n{% if x %}\nno end"); }, "template line 2");
  error_of([] { render("a\nb\n{{ x + }}"); }, "template line 3");
  error_of([] { render("{% for x in %}{% endfor %}"); }, "template line 1");
  error_of([] { render("\n{{ 'unterminated }}"); }, "unterminated string");
  error_of([] { render("{{ x "); }, "unterminated");
  error_of([] { render("{# never closed"); }, "unterminated comment");
  error_of([] { render("\n\n{% frobnicate %}"); }, "template line 3: unknown statement");
  error_of([] { render("{% include 'x.j2' %}"); }, "not supported");
  error_of([] { render("{{ x | nosuchfilter }}"); }, "unknown filter 'nosuchfilter'");
  error_of([] { render("{{ x is nosuchtest }}"); }, "unknown test");
  error_of([] { render("{{ 'a'.nosuchmethod() }}"); }, "no method 'nosuchmethod'");
  error_of([] { render("{{ x @ y }}"); }, "unexpected character '@'");
  error_of([] { render("{% endfor %}"); }, "unknown statement");
  error_of([] { render("\n{{ undefined_var + 1 }}"); }, "template line 2: undefined value");
  error_of([] { render("{{ 1 // 0 }}"); }, "division by zero");
  error_of([] { render("{{ none + 'a' }}"); }, "unsupported operand");
}

TEST(JinjaErrors, NoIntrospection) {
  for (const char* t : {"{{ messages.__class__ }}", "{{ ''.__class__.__mro__ }}", "{{ messages['__class__'] }}",
                        "{{ x|attr('__globals__') }}", "{{ range.__init__.__globals__ }}",
                        "{{ 'a'.__len__() }}", "{% set ns = namespace() %}{% set ns.__dict__ = 1 %}"})
    error_of([&] { render(t, R"({"messages": [], "x": {}})"); }, "not allowed");
  error_of([] { render("{{ cycler() }}"); }, "not callable");
}

TEST(JinjaErrors, BoundedExecution) {
  ChatTemplateLimits small;
  small.max_steps = 100000;
  // Endless-looking loops run out of steps instead of hanging.
  error_of([&] { render("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", "{}", small); },
           "execution steps");
  error_of([] { render("{{ range(100000000)|length }}"); }, "list longer than");
  // Endless recursion stops at the call-depth limit.
  error_of([] { render("\n{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"); }, "nested deeper than");
  // Exponentially growing strings and lists stop at the size limits.
  error_of([] { render("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}"); },
           "larger than");
  error_of([] { render("{{ 'x' * 100000000000 }}"); }, "larger than");
  error_of([] { render("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}"); },
           "list longer than");
  // Deep nesting is a parse error, not a stack overflow.
  error_of([] { render("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}"); }, "nesting deeper");
  std::string nested;
  for (int k = 0; k < 1000; ++k) nested += "{% if true %}";
  error_of([&] { render(nested); }, "nesting deeper");
  error_of([] { render("{{ -" + std::string(100000, '-') + "1 }}"); }, "nesting deeper");
  error_of([] { render("{{ 9223372036854775807 + 1 }}"); }, "overflow");
}

}  // namespace
}  // namespace frugal
