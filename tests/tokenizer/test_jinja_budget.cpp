// The chat-template budget (issue 12): work is bounded by bytes and items, not only by steps;
// repetition sizes its result before building it; a render has a deadline and a cancel flag;
// lists that contain themselves or nest a million deep end in an error or are freed, never in a
// crash; errors name the template file and the limit. Each case here hung, crashed or took
// minutes before (bench/bench_request_bounds.cpp times the worst ones).
#include <atomic>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/jinja_value.h"
#include "tokenizer/tokenizer_config.h"
#include "test_util.h"

namespace frugal {
namespace {

using ojson = nlohmann::ordered_json;

std::string render_budgeted(const std::string& tmpl, const ChatTemplateLimits& limits = {}, const std::string& name = "") {
  return ChatTemplate(tmpl, name).render(ojson::object(), limits);
}

using test::error_of;

TEST(JinjaBudget, RepetitionSizesItsResultFirst) {
  // The repetition loop used to run 10**18 times for an empty operand.
  EXPECT_EQ(render_budgeted("[{{ '' * 10**18 }}]"), "[]");
  EXPECT_EQ(render_budgeted("{{ ([] * 10**18)|length }}"), "0");
  EXPECT_EQ(render_budgeted("{{ 'ab' * 3 }} {{ [1, 2] * 2 }} {{ 'x' * -1 }} {{ [1] * 0 }}"), "ababab [1, 2, 1, 2]  []");
  const std::string msg = error_of([] { render_budgeted("{{ 'ab' * 10**18 }}", {}, "model/tokenizer_config.json"); },
                                   "larger than 16777216 bytes");
  EXPECT_NE(msg.find("model/tokenizer_config.json"), std::string::npos) << msg;
  error_of([] { render_budgeted("{{ [1, 2] * 10**18 }}"); }, "list longer than 1048576 items");
}

TEST(JinjaBudget, StringWorkIsChargedByBytes) {
  // 200 reads of a 1 MB string: few steps, 200 MB of work.
  ChatTemplateLimits lim;
  lim.max_total_bytes = 64u << 20;
  const std::string loop = "{% set s = 'x' * 1000000 %}{% for i in range(200) %}{{ s|length }}{% endfor %}";
  const std::string msg = error_of([&] { render_budgeted(loop, lim, "t.jinja"); }, "budget of 67108864 bytes");
  EXPECT_NE(msg.find("t.jinja: template line 1"), std::string::npos) << msg;
  for (const char* t : {"{% for i in range(200) %}{% if 'y' in s %}{% endif %}{% endfor %}",
                        "{% for i in range(200) %}{% set t = s.replace('x', 'y') %}{% endfor %}",
                        "{% for i in range(200) %}{{ s == s ~ '' }}{% endfor %}",
                        "{% for i in range(200) %}{% set t = s|upper %}{% endfor %}"})
    error_of([&] { render_budgeted(std::string("{% set s = 'x' * 1000000 %}") + t, lim); }, "bytes of string work");
}

TEST(JinjaBudget, ListWorkIsChargedByItems) {
  ChatTemplateLimits lim;
  lim.max_total_items = 1u << 20;
  for (const char* t : {"{% for i in range(100) %}{% if -1 in l %}{% endif %}{% endfor %}",
                        "{% for i in range(100) %}{{ (l + [])|length }}{% endfor %}",
                        "{% for i in range(100) %}{{ l|list|length }}{% endfor %}",
                        "{% for i in range(100) %}{{ l.count(3) }}{% endfor %}"})
    error_of([&] { render_budgeted(std::string("{% set l = range(100000)|list %}") + t, lim); }, "list and dict items");
}

TEST(JinjaBudget, CopiesOfLongStringsAreFree) {
  // Naming a 10 MB string copied it: 100000 loop iterations took minutes.
  EXPECT_EQ(render_budgeted("{% set s = 'x' * 10000000 %}{% for i in range(100000) %}{% if s %}{% endif %}{% endfor %}ok"), "ok");
  // Indexing walks to the character, not over the whole text.
  EXPECT_EQ(render_budgeted("{% set s = 'é' * 4000000 %}{% for i in range(1000) %}{% if s[1] != 'é' %}bad{% endif %}{% endfor %}"
                   "{{ s[-1] }}"),
            "é");
}

TEST(JinjaBudget, PrintingIsBoundedWhileItGrows) {
  // A thousand references to one 100000-item list: small in memory, ~600 MB in print.
  error_of([] { render_budgeted("{% set l = range(100000)|list %}{{ [l] * 1000 }}"); }, "larger than");
  error_of([] { render_budgeted("{% set l = range(100000)|list %}{{ ([l] * 1000)|tojson }}"); }, "larger than");
  error_of([] { render_budgeted("{% set l = range(100000)|list %}{{ [l] * 1000 ~ '' }}"); }, "larger than");
}

TEST(JinjaBudget, SelfContainingAndDeepValues) {
  error_of([] { render_budgeted("{% set a = [] %}{% do a.append(a) %}{{ a }}"); }, "nested deeper than 256 levels");
  error_of([] { render_budgeted("{% set a = [] %}{% do a.append(a) %}{{ a|tojson }}"); }, "nested deeper than 256 levels");
  error_of([] { render_budgeted("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"); }, "nested deeper than 256 levels");
  error_of([] { render_budgeted("{% set a = [] %}{% do a.append(a) %}{% set b = [] %}{% do b.append(b) %}{{ a == b }}"); },
           "nested deeper than 256 levels");
  // 300000 levels: freeing it used to overflow the stack.
  EXPECT_EQ(render_budgeted("{% set ns = namespace(x=[]) %}{% for i in range(300000) %}{% set ns.x = [ns.x] %}{% endfor %}"
                   "{{ ns.x|length }}"),
            "1");
}

TEST(JinjaBudget, ArenaFreesCycles) {
  std::weak_ptr<jinja::List> watch;
  {
    jinja::ContainerArena arena;
    jinja::Value a = jinja::Value::new_list();
    a.list->push_back(a);  // a contains itself: its count never drops to zero on its own
    watch = a.list;
  }
  EXPECT_TRUE(watch.expired());
}

TEST(JinjaBudget, DictsFilledKeyByKeyStayLinear) {
  EXPECT_EQ(render_budgeted("{% set d = {} %}{% for i in range(100000) %}{% do d.update({i|string: i}) %}{% endfor %}"
                   "{{ d|length }} {{ d['99999'] }} {{ d.get('5') }}"),
            "100000 99999 5");
}

TEST(JinjaBudget, SplittingLongTexts) {
  EXPECT_EQ(render_budgeted("{{ (',' * 1000000).rsplit(',', 10**18)|length }}"), "1000001");
  EXPECT_EQ(render_budgeted("{{ 'a,b,c'.rsplit(',', 1) }} {{ 'a,b,c'.rsplit(',', 0) }}"), "['a,b', 'c'] ['a,b,c']");
  error_of([] { render_budgeted("{{ (',' * 4000000).split(',')|length }}"); }, "list longer than");
  EXPECT_EQ(render_budgeted("{{ ('ab ' * 2000000)|wordcount }}"), "2000000");
}

TEST(JinjaBudget, DeadlineAndCancel) {
  ChatTemplateLimits lim;
  lim.max_steps = INT64_MAX;
  lim.max_seconds = 0.2;
  const std::string forever = "{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}";
  error_of([&] { render_budgeted(forever, lim, "slow.jinja"); }, "slow.jinja: template line 1: template ran longer than its limit of 0.2 s");
  std::atomic<bool> stop{true};
  lim.max_seconds = 0;
  lim.cancel = &stop;
  error_of([&] { render_budgeted(forever, lim); }, "cancelled");
}

TEST(JinjaBudget, ConfigNamesTheTemplateSource) {
  const TokenizerConfig cfg = TokenizerConfig::load(std::string(FRUGAL_TEST_DATA) + "/tokenizer/deepseek_v3");
  EXPECT_NE(cfg.chat_template_source.find("tokenizer_config.json (chat_template)"), std::string::npos)
      << cfg.chat_template_source;
  error_of([] { ChatTemplate("{% if %}", "x/tokenizer_config.json (chat_template)"); },
           "x/tokenizer_config.json (chat_template): template line 1");
}

// The budgets leave room for real templates on the largest requests the server takes (4 MiB).
TEST(JinjaBudget, RealTemplatesRenderLargeConversations) {
  for (const char* model : {"deepseek_v3", "qwen3"}) {
    const TokenizerConfig cfg = TokenizerConfig::load(std::string(FRUGAL_TEST_DATA) + "/tokenizer/" + model);
    ChatRequest req;
    for (int k = 0; k < 1000; ++k)
      req.messages.push_back({{"role", k % 2 ? "assistant" : "user"}, {"content", std::string(4000, 'a' + k % 26)}});
    req.add_generation_prompt = true;
    const std::string out = render_chat(ChatTemplate(cfg.chat_template, cfg.chat_template_source), cfg, req);
    EXPECT_GT(out.size(), 4000000u) << model;
  }
}

}  // namespace
}  // namespace frugal
