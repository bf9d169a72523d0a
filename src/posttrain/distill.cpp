#include "posttrain/distill.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/sys.h"
#include "infer/batch_generate.h"
#include "io/hf_config.h"
#include "io/hf_loader.h"
#include "model/transformer.h"
#include "posttrain/answer.h"
#include "posttrain/reward.h"
#include "posttrain/sft.h"
#include "posttrain/task_data.h"
#include "posttrain/teacher_topk.h"

namespace frugal {

namespace {

using ojson = nlohmann::ordered_json;

DistillPrompt parse_prompt_line(std::string_view line, const std::string& where) {
  const ojson j = parse_ordered_json(line, where);
  if (!j.is_object() || !j.contains("messages") || !j["messages"].is_array() || j["messages"].empty())
    fail(ErrorKind::kInvalidArgument, "expected an object with a non-empty \"messages\" array");
  DistillPrompt p;
  p.messages = j["messages"];
  for (size_t i = 0; i < p.messages.size(); ++i) {
    const ojson& m = p.messages[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
        !m["content"].is_string())
      fail(ErrorKind::kInvalidArgument, "messages[{}]: expected {{\"role\": string, \"content\": string}}", i);
  }
  if (j.contains("task") != j.contains("problem"))
    fail(ErrorKind::kInvalidArgument, "\"task\" and \"problem\" come together (frugal task-data --format prompts)");
  if (j.contains("task")) {
    if (!j["task"].is_string()) fail(ErrorKind::kInvalidArgument, "task: expected a string");
    p.task = &find_task(j["task"].get<std::string>());
    p.problem = problem_from_json(j["problem"], *p.task);
  }
  return p;
}

// A teacher's answer as the assistant turn of an SFT conversation. The prompt's pre-filled
// "<think>\n" (R1-style templates) is part of what the teacher wrote, so it is put back.
ojson conversation(const DistillPrompt& p, const std::string& answer) {
  ojson msgs = p.messages;
  msgs.push_back({{"role", "assistant"}, {"content", answer}});
  ojson j = {{"messages", msgs}};
  if (p.task) {
    j["task"] = p.task->name;
    j["problem"] = problem_to_json(*p.problem);
  }
  return j;
}

}  // namespace

std::vector<DistillPrompt> load_distill_prompts(const std::string& path, BadLinePolicy policy, int64_t* skipped,
                                                std::vector<std::string>* notes) {
  std::vector<DistillPrompt> out;
  int64_t bad = 0;
  for_each_jsonl_line(
      path, policy, "distill.on_bad_line",
      [&](std::string_view line, const std::string& where, int64_t line_no) {
        out.push_back(parse_prompt_line(line, where));
        out.back().line = line_no;
      },
      &bad, notes);
  if (skipped) *skipped = bad;
  if (out.empty()) fail(ErrorKind::kInvalidArgument, "{}: no prompts ({} malformed lines skipped)", path, bad);
  return out;
}

void check_same_vocabulary(const std::string& teacher_dir, const std::string& student_dir) {
  const DeepSeekConfig t = load_hf_config(teacher_dir), s = load_hf_config(student_dir);
  if (t.vocab_size != s.vocab_size)
    fail(ErrorKind::kInvalidArgument,
         "logit distillation compares the two models' distributions token by token, so they need one vocabulary: "
         "teacher {} has vocab_size {}, student {} has {}",
         teacher_dir, t.vocab_size, student_dir, s.vocab_size);
  const Tokenizer tt = Tokenizer::load(teacher_dir), ts = Tokenizer::load(student_dir);
  for (int32_t id = 0; id < int32_t(t.vocab_size); ++id) {
    const std::optional<std::string> a = tt.id_to_token(id), b = ts.id_to_token(id);
    if (a != b)
      fail(ErrorKind::kInvalidArgument,
           "logit distillation needs one vocabulary: token id {} is {} in the teacher's tokenizer ({}) and {} in the "
           "student's ({})",
           id, a ? "'" + *a + "'" : "unassigned", teacher_dir, b ? "'" + *b + "'" : "unassigned", student_dir);
  }
}

DistillGenReport generate_distill_data(const DistillConfig& c, const std::string& out_path) {
  const DistillConfig::Distill& d = c.distill;
  DistillGenReport rep;
  int64_t skipped = 0;
  std::vector<std::string> notes;
  const std::vector<DistillPrompt> prompts = load_distill_prompts(d.data, d.on_bad_line, &skipped, &notes);
  for (const std::string& n : notes) std::fprintf(stderr, "frugal distill: warning: %s\n", n.c_str());
  std::vector<RewardTerm> filter;
  if (d.filter != "none") filter = parse_reward_list(d.filter);
  const bool needs_problem =
      std::any_of(filter.begin(), filter.end(), [](const RewardTerm& t) { return t.spec.name == "accuracy"; });
  for (const DistillPrompt& p : prompts)
    if (needs_problem && !p.task)
      fail(ErrorKind::kInvalidArgument,
           "{}:{}: distill.filter has accuracy, but this prompt has no task problem to check answers against "
           "(write prompts with frugal task-data --format prompts, or set --filter format)",
           d.data, p.line);

  std::unique_ptr<LoadedModel> teacher = load_model(d.teacher);
  Transformer model(teacher->config, teacher->weights);
  const ChatFormat fmt(d.teacher, "", d.prompt_format);
  const std::vector<int32_t> stop = fmt.stop_ids(teacher->config.eos_token_id);
  EngineOptions eo;
  eo.max_batch = d.batch;
  eo.ctx = teacher->config.max_position_embeddings;
  BatchGenerator gen(model, eo);
  RewardSet rewards(filter);

  std::string out;
  const int64_t per_chunk = std::max<int64_t>(1, d.batch / d.samples);
  Progress progress("distill: teacher answers", int64_t(prompts.size()), "prompts");
  const double t0 = now_seconds();
  for (size_t first = 0; first < prompts.size(); first += size_t(per_chunk)) {
    const size_t last = std::min(prompts.size(), first + size_t(per_chunk));
    std::vector<BatchRequest> reqs;
    std::vector<bool> prefilled;
    for (size_t i = first; i < last; ++i) {
      const std::string text = fmt.render(prompts[i].messages, true);
      prefilled.push_back(prompt_prefills_think(text));
      const std::vector<int32_t> ids = fmt.encode(text);
      for (int64_t k = 0; k < d.samples; ++k) {
        BatchRequest r;
        r.prompt = ids;
        r.sampling.temperature = float(d.temperature);
        r.sampling.top_p = float(d.top_p);
        r.sampling.seed = mix64(mix64(d.seed ^ 0x64697374ULL) + i * uint64_t(d.samples) + uint64_t(k));
        r.max_tokens = d.max_tokens;
        r.stop_ids = stop;
        reqs.push_back(std::move(r));
      }
    }
    const std::vector<Completion> outs = gen.generate(reqs);
    for (size_t i = first; i < last; ++i) {
      const DistillPrompt& p = prompts[i];
      std::set<std::string> kept;
      for (int64_t k = 0; k < d.samples; ++k) {
        const Completion& o = outs[(i - first) * size_t(d.samples) + size_t(k)];
        ++rep.generated;
        rep.completion_tokens += int64_t(o.ids.size());
        if (o.finish == FinishReason::kError) fail(ErrorKind::kInternal, "teacher generation failed: {}", o.error);
        const bool pre = prefilled[i - first];
        std::string text = fmt.decode_completion(o.ids, stop);
        RewardInput in;
        in.task = p.task;
        in.problem = p.problem ? &*p.problem : nullptr;
        in.completion = text;
        in.think_prefilled = pre;
        in.completion_tokens = int64_t(o.ids.size());
        in.max_tokens = d.max_tokens;
        in.truncated = o.finish == FinishReason::kLength;
        const RewardScores sc = rewards.score(in);
        // With a filter, an answer cut at the budget is never kept (it has no end); "none" keeps all.
        const bool pass = filter.empty() || (!in.truncated && std::all_of(sc.values.begin(), sc.values.end(),
                                                                          [](double v) { return v == 1.0; }));
        if (!pass || int64_t(kept.size()) >= d.keep_per_prompt || !kept.insert(text).second) continue;
        out += conversation(p, pre ? "<think>\n" + text : text).dump() + "\n";
        ++rep.kept;
      }
      rep.prompts_kept += !kept.empty();
    }
    progress.update(int64_t(last));
  }
  progress.finish();
  rep.prompts = int64_t(prompts.size());
  rep.seconds = now_seconds() - t0;
  rep.reward_errors = rewards.total_errors();
  if (rep.kept == 0)
    fail(ErrorKind::kInvalidArgument,
         "distill: none of the teacher's {} answers to {} prompts passed the filter '{}' (answers cut at --max-tokens "
         "never do); nothing to train on (raise --samples or --max-tokens, or loosen --filter)",
         rep.generated, rep.prompts, d.filter);
  write_file_atomic(out_path, out);
  return rep;
}

DistillSummary run_distill(const DistillConfig& c) {
  const bool logit = c.distill.mode == DistillMode::kLogit;
  if (logit) check_same_vocabulary(c.distill.teacher, c.distill.student);  // before any work
  DistillSummary sum;
  std::filesystem::create_directories(c.train.checkpoint.out);
  sum.data_path = path_join(c.train.checkpoint.out, "distill_data.jsonl");
  if (c.train.checkpoint.resume && file_exists(sum.data_path)) {
    sum.gen.reused = true;  // written atomically, so it is complete
    std::fprintf(stderr, "frugal distill: --resume: reusing %s\n", sum.data_path.c_str());
  } else {
    sum.gen = generate_distill_data(c, sum.data_path);
    std::fprintf(stderr,
                 "frugal distill: kept %lld of %lld teacher answers (%lld of %lld prompts), %lld tokens in %.1f s\n",
                 (long long)sum.gen.kept, (long long)sum.gen.generated, (long long)sum.gen.prompts_kept,
                 (long long)sum.gen.prompts, (long long)sum.gen.completion_tokens, sum.gen.seconds);
  }
  SftConfig sc;
  sc.train = c.train;
  sc.sft.data = sum.data_path;
  sc.sft.prompt_format = c.distill.prompt_format;
  SftExamples ex = load_sft_examples(sc);
  if (logit) {
    // The teacher scores the student's own token sequences (one vocabulary, checked above).
    const std::string cache = path_join(c.train.checkpoint.out, "teacher_topk.bin");
    const int64_t V = load_hf_config(c.distill.student).vocab_size;
    if (c.train.checkpoint.resume && load_teacher_topk(cache, ex.train, c.distill.top_k, V)) {
      std::fprintf(stderr, "frugal distill: --resume: reusing %s\n", cache.c_str());
    } else {
      std::unique_ptr<LoadedModel> teacher = load_model(c.distill.teacher);
      Transformer model(teacher->config, teacher->weights);
      compute_teacher_topk(model, ex.train, c.distill.top_k);
      save_teacher_topk(cache, ex.train, c.distill.top_k);
    }
    ex.summary += fmt::format("; soft targets: the teacher's top {} per answer token", c.distill.top_k);
  }
  std::unique_ptr<SftPacker> data = pack_sft_examples(sc, std::move(ex));
  const std::string toml = to_toml(c);
  sum.train = run_training(sc.train, data.get(), &toml);
  if (!sum.train.export_dir.empty()) copy_tokenizer_files(c.distill.student, "", sum.train.export_dir);
  return sum;
}

}  // namespace frugal
