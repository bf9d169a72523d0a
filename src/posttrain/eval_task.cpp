#include "posttrain/eval_task.h"

#include "core/error.h"
#include "core/sys.h"
#include "posttrain/answer.h"
#include "posttrain/reward.h"

namespace frugal {

EvalReport run_eval_task(BatchGenerator& gen, const TaskPrompter& prompter, const Task& task, int64_t model_eos_token_id,
                         const EvalTaskOptions& opt, std::vector<EvalRecord>* records) {
  if (opt.limit < 1) fail(ErrorKind::kInvalidArgument, "--limit = {}: must be >= 1", opt.limit);
  if (opt.samples < 1) fail(ErrorKind::kInvalidArgument, "--samples = {}: must be >= 1", opt.samples);
  if (opt.max_tokens < 1) fail(ErrorKind::kInvalidArgument, "--max-tokens = {}: must be >= 1", opt.max_tokens);
  const int64_t K = opt.samples;
  SamplingParams sp;
  sp.temperature = opt.temperature >= 0 ? opt.temperature : (K == 1 ? 0.0f : 0.6f);
  sp.top_p = opt.top_p >= 0 ? opt.top_p : (K == 1 ? 1.0f : 0.95f);
  validate(sp);

  const std::vector<Problem> problems = task_problems(task, opt.seed, Split::kEval, opt.limit);
  const std::vector<int32_t> stop = prompter.stop_ids(model_eos_token_id);
  std::vector<BatchRequest> reqs;
  std::vector<bool> prefilled;
  reqs.reserve(problems.size() * size_t(K));
  for (size_t i = 0; i < problems.size(); ++i) {
    const std::string text = prompter.render(problems[i]);
    prefilled.push_back(prompt_prefills_think(text));
    BatchRequest r;
    r.prompt = prompter.encode(text);
    r.sampling = sp;
    r.max_tokens = opt.max_tokens;
    r.stop_ids = stop;
    for (int64_t s = 0; s < K; ++s) {
      r.sampling.seed = mix64(mix64(opt.seed ^ 0x6576616c7461736bull) + uint64_t(i) * uint64_t(K) + uint64_t(s));
      reqs.push_back(r);
    }
  }
  const double t0 = now_seconds();
  const std::vector<Completion> outs = gen.generate(reqs);
  const double seconds = now_seconds() - t0;

  RewardSet rewards([] {
    std::vector<RewardTerm> all;
    for (const RewardSpec& r : reward_registry()) all.push_back({r, 1.0});
    return all;
  }());
  size_t acc_index = 0;
  for (size_t j = 0; j < rewards.size(); ++j)
    if (rewards.term(j).spec.name == "accuracy") acc_index = j;

  EvalReport rep;
  rep.task = std::string(task.name);
  rep.problems = int64_t(problems.size());
  rep.samples = K;
  rep.max_tokens = opt.max_tokens;
  rep.temperature = sp.temperature;
  rep.top_p = sp.top_p;
  rep.seconds = seconds;
  rep.reward_means.assign(rewards.size(), 0.0);
  std::vector<int64_t> n_correct(problems.size());
  int64_t truncated = 0;
  for (size_t i = 0; i < problems.size(); ++i) {
    int64_t c = 0;
    for (int64_t s = 0; s < K; ++s) {
      const Completion& out = outs[i * size_t(K) + size_t(s)];
      EvalRecord rec;
      rec.problem = int64_t(i);
      rec.sample = s;
      rec.question = problems[i].question;
      rec.reference = problems[i].reference;
      rec.finish = finish_reason_name(out.finish);
      rec.tokens = int64_t(out.ids.size());
      rep.prompt_tokens += out.prompt_tokens;
      rep.cached_prompt_tokens += out.cached_prompt_tokens;
      rep.completion_tokens += rec.tokens;
      if (out.finish == FinishReason::kError) {
        if (rep.generation_errors++ == 0) rep.first_generation_error = out.error;
      } else {
        rec.completion = prompter.decode_completion(out.ids, stop);
        RewardInput in;
        in.task = &task;
        in.problem = &problems[i];
        in.completion = rec.completion;
        in.think_prefilled = prefilled[i];
        in.completion_tokens = rec.tokens;
        in.max_tokens = opt.max_tokens;
        in.truncated = out.finish == FinishReason::kLength;
        truncated += in.truncated;
        rec.rewards = rewards.score(in).values;
        rec.correct = rec.rewards[acc_index] == 1.0;
      }
      if (rec.rewards.empty()) rec.rewards.assign(rewards.size(), 0.0);  // an engine error scores 0 everywhere
      for (size_t j = 0; j < rewards.size(); ++j) rep.reward_means[j] += rec.rewards[j];
      c += rec.correct;
      if (records) records->push_back(std::move(rec));
    }
    rep.correct += c;
    n_correct[i] = c;
  }
  const double n_comp = double(problems.size()) * double(K);
  for (double& m : rep.reward_means) m /= n_comp;
  for (size_t j = 0; j < rewards.size(); ++j) {
    rep.reward_names.push_back(rewards.term(j).spec.name);
    rep.reward_errors.push_back(rewards.errors(j));
    rep.reward_first_errors.push_back(rewards.first_error(j));
  }
  rep.mean_completion_tokens = double(rep.completion_tokens) / n_comp;
  rep.truncated_fraction = double(truncated) / n_comp;
  rep.pass = pass_at_k_table(n_correct, K);
  return rep;
}

}  // namespace frugal
