// Work per request on hostile-but-legal inputs (issue 12): time and peak memory of
//   chat_lt       a 1 MiB message of '<' through the DeepSeek-V3 chat template, special-token
//                 escaping and encoding (render_chat_prompt);
//   encode_lt     1 MiB of '<' through Tokenizer::encode (added-token splitting);
//   tokenize_*    POST /tokenize with_pieces on 1 MiB of text (English, and text of one token per
//                 byte), through an in-process server;
//   prompt_over_ctx  a 4 MiB completion prompt against a 4096-token context (refused), beside
//                 prompt_full_encode, the cost of tokenizing all of it (how it was refused before);
//   str_repeat    the template {{ '' * 10**18 }}; list_repeat: {{ [] * 10**18 }};
//   tpl_*         hostile templates: a 16 MB string named 100000 times, a list nested 300000
//                 deep, a list that contains itself printed.
// Each case runs in its own child process under a time limit, so a hang is reported as such and
// peak RSS is per case (the /tokenize cases include the in-process client's copy of the answer).
//
// Measured on a shared 2-core machine under heavy load (wall time; RSS above the ~50 MB baseline;
// the "before" of the tpl_* rows is the same template through `frugal chat-template`):
//   case                    before (f22f723)              after
//   chat_lt                 13.8 s, +38 MB                0.86 s (0.43 s cpu), +38 MB
//   encode_lt               7.1 s                         0.53 s (0.28 s cpu)
//   tokenize_1tok_per_byte  19.0 s, +470 MB               6.3 s (1.9 s cpu), +103 MB
//   tokenize_english        3.2 s, +124 MB                0.63 s, +27 MB
//   prompt_over_ctx         ~ prompt_full_encode: 1.7 s   0.04 s (0.015 s cpu), +3 MB
//   str_repeat, list_repeat killed after 120 s            0.001 s
//   tpl_copy_loop           killed after 60 s             0.46 s
//   tpl_deep_nesting        segmentation fault            1.4 s
//   tpl_cycle_print         segmentation fault            an error naming the limit Run from the repository root:
//   bench_request_bounds [--case NAME] [--timeout SECONDS] [--data tests/data]
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "bench/args.h"
#include "serve/http_lib.h"
#include "serve/http_server.h"
#include "serve/openai_model.h"
#include "serve/openai_request.h"
#include "serve/openai_response.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer_impl.h"

using namespace frugal;
using Clock = std::chrono::steady_clock;

namespace {

std::string g_data = "tests/data";  // --data: the repository's tests/data

// kB from /proc/self/status ("VmRSS", "VmHWM").
long proc_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(f, line))
    if (line.rfind(k, 0) == 0) return std::stol(line.substr(k.size()));
  return -1;
}

// CPU seconds of this process (all threads): steadier than wall time on a shared machine.
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// Resets the peak-RSS mark to the current RSS (Linux clear_refs "5").
void reset_peak() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
}

std::shared_ptr<serve::ServedModel> v3_model() {
  const std::string dir = g_data + "/tokenizer/deepseek_v3";
  auto m = std::make_shared<serve::ServedModel>();
  m->name = "v3";
  std::string resolved;
  const std::string text = tok::read_tokenizer_file(dir, &resolved);
  m->tokenizer = std::make_shared<const Tokenizer>(Tokenizer::from_json_text(text, resolved));
  m->tokenizer_config = TokenizerConfig::load(dir);
  m->vocab_size = m->tokenizer->vocab_size();
  m->ctx = 1 << 30;
  m->special_strings = serve::added_token_strings(text);
  serve::finish_served_model(*m, serve::ReasoningParser::kAuto);
  return m;
}

// One case: setup (not measured) returns the measured action.
struct Case {
  const char* name;
  std::function<std::function<std::string()>()> setup;
};

std::string tokenize_over_http(const std::shared_ptr<serve::ServedModel>& m, const std::string& content) {
  serve::ServerOptions opt;
  opt.host = "127.0.0.1";
  opt.port = 0;
  opt.threads = 2;
  auto server = std::make_shared<serve::HttpServer>(opt);
  const int port = server->bind();
  server->start();
  server->set_model(m);
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(600, 0);
  const std::string body = serve::ojson{{"content", content}, {"with_pieces", true}}.dump();
  auto r = c.Post("/tokenize", body, "application/json");
  std::string what = r ? fmt::format("HTTP {}, {} bytes answered", r->status, r->body.size()) : "no answer";
  if (r && r->status != 200) what += ": " + r->body.substr(0, 200);
  server->shutdown(0);
  return what;
}

std::function<std::string()> template_case(const std::string& tmpl) {
  return [tmpl] {
    const std::string out = ChatTemplate(tmpl).render(nlohmann::ordered_json::object());
    return fmt::format("rendered {} bytes: {}", out.size(), out.substr(0, 40));
  };
}

std::vector<Case> cases() {
  const size_t kMiB = 1 << 20;
  return {
      {"chat_lt",
       [=] {
         auto m = v3_model();
         return std::function<std::string()>([m, kMiB] {
           serve::ojson body = {{"messages", {{{"role", "user"}, {"content", std::string(kMiB, '<')}}}}};
           const auto r = serve::render_chat_prompt(body, *m);
           return fmt::format("{} tokens", r.ids.size());
         });
       }},
      {"encode_lt",
       [=] {
         auto m = v3_model();
         return std::function<std::string()>([m, kMiB] {
           return fmt::format("{} tokens", m->tokenizer->encode(std::string(kMiB, '<')).size());
         });
       }},
      {"tokenize_english",
       [=] {
         auto m = v3_model();
         std::string text = tok::read_tokenizer_file(g_data + "/tokenizer/english_1mb.txt.gz", nullptr);
         text.resize(std::min(text.size(), kMiB));
         return std::function<std::string()>([m, text] { return tokenize_over_http(m, text); });
       }},
      {"tokenize_1tok_per_byte",
       [=] {
         auto m = v3_model();
         // Letters and digits are separate pre-tokenizer pieces: one token per byte.
         std::string text;
         while (text.size() < kMiB) text += "a1";
         return std::function<std::string()>([m, text] { return tokenize_over_http(m, text); });
       }},
      {"prompt_over_ctx",
       [=] {
         auto m = v3_model();
         m->ctx = 4096;
         std::string text = tok::read_tokenizer_file(g_data + "/tokenizer/english_1mb.txt.gz", nullptr);
         while (text.size() < 4 * kMiB) text += text;
         text.resize(4 * kMiB - 64);
         return std::function<std::string()>([m, text] {
           try {
             serve::parse_completion_request(serve::ojson{{"prompt", text}}, *m, serve::RequestLimits{});
             return std::string("accepted?");
           } catch (const std::exception& e) {
             return std::string(e.what()).substr(0, 160);
           }
         });
       }},
      {"prompt_full_encode",  // what refusing it cost before: tokenizing all 4 MiB
       [=] {
         auto m = v3_model();
         std::string text = tok::read_tokenizer_file(g_data + "/tokenizer/english_1mb.txt.gz", nullptr);
         while (text.size() < 4 * kMiB) text += text;
         text.resize(4 * kMiB - 64);
         return std::function<std::string()>(
             [m, text] { return fmt::format("{} tokens", m->tokenizer->encode(text).size()); });
       }},
      {"str_repeat",
       [] {
         return std::function<std::string()>([] {
           return std::to_string(ChatTemplate("{{ '' * 10**18 }}").render(nlohmann::ordered_json::object()).size()) +
                  " bytes rendered";
         });
       }},
      {"list_repeat",
       [] {
         return std::function<std::string()>([] {
           return std::to_string(ChatTemplate("{{ ([] * 10**18)|length }}").render(nlohmann::ordered_json::object()).size()) +
                  " bytes rendered";
         });
       }},
      {"tpl_copy_loop", [] { return template_case("{% set s = 'x' * 16000000 %}{% for i in range(100000) %}{% if s %}{% endif %}{% endfor %}ok"); }},
      {"tpl_deep_nesting", [] { return template_case("{% set ns = namespace(x=[]) %}{% for i in range(300000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x|length }}"); }},
      {"tpl_cycle_print", [] { return template_case("{% set a = [] %}{% do a.append(a) %}{{ a }}"); }},
  };
}

void run_child(const Case& c) {
  std::function<std::string()> action;
  try {
    action = c.setup();
  } catch (const std::exception& e) {
    std::printf("%-24s setup failed: %s\n", c.name, e.what());
    return;
  }
  const long rss0 = proc_kb("VmRSS");
  reset_peak();
  const auto t0 = Clock::now();
  const double cpu0 = cpu_seconds();
  std::string what;
  try {
    what = action();
  } catch (const std::exception& e) {
    what = std::string("error: ") + e.what();
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  const long hwm = proc_kb("VmHWM");
  if (what.size() > 300) what = what.substr(0, 300) + "...";
  std::printf("%-22s %8.3f s wall %8.3f s cpu  peak RSS %7.1f MB (%.1f MB before)  %s\n", c.name, s, cpu,
              hwm / 1024.0, rss0 / 1024.0, what.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::string only;
  int timeout = 60;
  for (bench::Args args(argc, argv); args.next();) {
    if (args.is("--case")) only = args.value();
    else if (args.is("--timeout")) timeout = int(args.integer());
    else if (args.is("--data")) g_data = args.value();
    else args.unknown();
  }
  for (const Case& c : cases()) {
    if (!only.empty() && only != c.name) continue;
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
      alarm(unsigned(timeout));
      run_child(c);
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status))
      std::printf("%-24s killed by signal %d (%s) after the %d s limit or out of memory\n", c.name, WTERMSIG(status),
                  strsignal(WTERMSIG(status)), timeout);
  }
  return 0;
}
