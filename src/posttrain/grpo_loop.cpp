#include "posttrain/grpo_loop.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/dir_lock.h"
#include "core/error.h"
#include "core/file.h"
#include "core/sys.h"
#include "infer/batch_generate.h"
#include "io/hf_config.h"
#include "io/hf_loader.h"
#include "io/hf_params.h"
#include "posttrain/answer.h"
#include "posttrain/logprobs.h"
#include "posttrain/reward.h"
#include "train/checkpoint.h"
#include "train/telemetry.h"
#include "train/train_step.h"

namespace frugal {

namespace {

TrainerSettings settings_of(const GrpoConfig& c) {
  TrainerSettings s;
  s.adamw.beta1 = c.optim.beta1;
  s.adamw.beta2 = c.optim.beta2;
  s.adamw.eps = c.optim.eps;
  s.adamw.weight_decay = c.optim.weight_decay;
  s.adamw.grad_clip = c.optim.grad_clip;
  s.schedule.kind = LrScheduleKind::kConstant;
  s.schedule.lr = c.optim.lr;
  s.schedule.min_lr = c.optim.lr;
  s.schedule.warmup_steps = c.optim.warmup;
  s.schedule.total_steps = c.train.steps * c.grpo.num_iterations;
  s.model.mtp_weight = 0;
  s.model.aux_alpha = 0;
  s.bias_gamma = 0;
  return s;
}

// One rollout completion, as the update sees it.
struct Rollout {
  size_t group = 0;
  std::vector<int32_t> ids;  // completion tokens (a final stop id included)
  std::vector<float> old_logp, ref_logp;
  double advantage = 0;
  bool masked = false;  // cut at the budget with grpo.mask_truncated_completions: no loss, no tokens
};

// Micro-batches of [prompt | completion] rows: inputs are the sequence without its last token,
// targets the next tokens with the prompt's masked (-1), weights −K·g on completion targets.
// Rows are padded at the end (id 0, target -1, weight 0): causal attention keeps the padding out
// of every real row's result.
std::vector<MicroBatch> micro_batches(const std::vector<Rollout>& rs, const std::vector<std::vector<int32_t>>& prompts,
                                      const std::vector<std::vector<double>>& grad, int64_t per_mb) {
  std::vector<size_t> rows;
  for (size_t i = 0; i < rs.size(); ++i)
    if (!rs[i].ids.empty() && !rs[i].masked) rows.push_back(i);
  const int64_t K = (int64_t(rows.size()) + per_mb - 1) / per_mb;
  std::vector<MicroBatch> out;
  for (int64_t k = 0; k < K; ++k) {
    const size_t lo = size_t(k * per_mb), hi = std::min(rows.size(), size_t((k + 1) * per_mb));
    MicroBatch mb;
    mb.B = int64_t(hi - lo);
    for (size_t r = lo; r < hi; ++r)
      mb.T = std::max(mb.T, int64_t(prompts[rs[rows[r]].group].size() + rs[rows[r]].ids.size()) - 1);
    mb.inputs.assign(size_t(mb.B * mb.T), 0);
    mb.targets.assign(size_t(mb.B * mb.T), -1);
    mb.weights.assign(size_t(mb.B * mb.T), 0.0f);
    mb.loss_norm = 1.0;
    for (size_t r = lo; r < hi; ++r) {
      const Rollout& ro = rs[rows[r]];
      const std::vector<int32_t>& p = prompts[ro.group];
      std::vector<int32_t> seq = p;
      seq.insert(seq.end(), ro.ids.begin(), ro.ids.end());
      const size_t row = (r - lo) * size_t(mb.T);
      for (size_t j = 0; j + 1 < seq.size(); ++j) {
        mb.inputs[row + j] = seq[j];
        if (j + 1 >= p.size()) {  // predicts completion token j + 1 − P
          mb.targets[row + j] = seq[j + 1];
          mb.weights[row + j] = grpo_token_weight(grad[rows[r]][j + 1 - p.size()], K);
        }
      }
    }
    out.push_back(std::move(mb));
  }
  return out;
}

}  // namespace

std::string grpo_step_json(const GrpoStepStats& s) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json j = {{"step", s.step},
                      {"reward", num(s.reward)},
                      {"reward_std", num(s.reward_std)},
                      {"accuracy", num(s.accuracy)},
                      {"completion_length", num(s.completion_length)},
                      {"truncated", num(s.truncated)},
                      {"zero_advantage_groups", num(s.zero_advantage_groups)},
                      {"kl", num(s.kl)},
                      {"clip_fraction", num(s.clip_fraction)},
                      {"entropy", num(s.entropy)},
                      {"loss", num(s.loss)},
                      {"grad_norm", num(s.grad_norm)},
                      {"lr", num(s.lr)},
                      {"skipped_updates", s.skipped_updates},
                      {"reward_errors", s.reward_errors},
                      {"rollout_s", num(s.rollout_s)},
                      {"update_s", num(s.update_s)},
                      {"rollout_tokens_per_s", num(s.rollout_tokens_per_s)},
                      {"update_tokens_per_s", num(s.update_tokens_per_s)}};
  for (size_t i = 0; i < s.reward_names.size(); ++i) j["reward_" + s.reward_names[i]] = num(s.reward_means[i]);
  return j.dump();
}

GrpoSummary run_grpo(const GrpoConfig& c, const std::function<void(const GrpoStepStats&)>& on_step) {
  const Task& task = find_task(c.task.name);
  RewardSet rewards(parse_reward_list(c.task.rewards));
  TaskPrompter prompter(c.model.init, c.model.tokenizer, c.model.prompt_format);
  const DeepSeekConfig cfg = load_hf_config(c.model.init);

  Trainer trainer(cfg, settings_of(c));
  load_params_hf(c.model.init, trainer.store());
  std::filesystem::create_directories(c.checkpoint.out);
  // Held until the run ends: a second run on the same directory is refused before it writes.
  const DirLock run_lock(c.checkpoint.out, "grpo.lock", "GRPO run");
  const std::string metrics_path = path_join(c.checkpoint.out, "grpo_metrics.jsonl");
  const nlohmann::json model_json = hf_config_to_json(cfg);
  // Everything else a step does is a function of (seed, step) and the weights: the problems, the
  // sampling seeds, the rewards. So the trainer's state and the step are the whole checkpoint.
  int64_t start = 0;
  if (c.checkpoint.resume) {
    if (std::optional<LoadedCheckpoint> ck = load_latest_checkpoint(c.checkpoint.out)) {
      for (const std::string& w : ck->warnings) std::fprintf(stderr, "frugal grpo: warning: %s\n", w.c_str());
      if (ck->meta.value("model", nlohmann::json()) != model_json)
        fail(ErrorKind::kInvalidArgument, "{}: the checkpoint's model config differs from {}'s", ck->dir, c.model.init);
      if (!ck->meta.contains("grpo_step") || !ck->meta["grpo_step"].is_number_integer())
        fail(ErrorKind::kFormat, "{}: meta.json has no grpo_step (not a GRPO checkpoint)", ck->dir);
      trainer.restore(*ck, ck->meta);
      start = ck->meta["grpo_step"].get<int64_t>();
      truncate_metrics_after(metrics_path, start);
      std::fprintf(stderr, "frugal grpo: resumed from %s (step %lld)\n", ck->dir.c_str(), (long long)start);
    } else {
      std::fprintf(stderr, "frugal grpo: --resume: no checkpoint in %s/ckpt, starting from step 0\n",
                   c.checkpoint.out.c_str());
    }
  }
  // The rollout engine and the scorer view the trainer's f32 parameters; `w` is refreshed after
  // every update (its norm vectors are copies) and both models read it through their reference.
  ModelWeights w = trainer.store().weights();
  Transformer policy(cfg, w), scorer(cfg, w);
  EngineOptions eo;
  eo.max_batch = c.grpo.prompts * c.grpo.num_generations;
  eo.ctx = cfg.max_position_embeddings;
  BatchGenerator gen(policy, eo);
  std::unique_ptr<LoadedModel> ref;
  std::unique_ptr<Transformer> ref_model;
  if (c.grpo.beta > 0) {
    ref = load_model(c.model.init);
    ref_model = std::make_unique<Transformer>(ref->config, ref->weights);
  }
  const std::vector<int32_t> stop = prompter.stop_ids(cfg.eos_token_id);
  GrpoSettings gs;
  gs.epsilon_low = c.grpo.epsilon;
  gs.epsilon_high = c.grpo.epsilon_high < 0 ? c.grpo.epsilon : c.grpo.epsilon_high;
  gs.beta = c.grpo.beta;
  gs.norm = c.grpo.loss_type;
  gs.max_completion_length = c.grpo.max_completion_length;

  write_file_atomic(path_join(c.checkpoint.out, "config.resolved.toml"), to_toml(c));
  std::unique_ptr<FILE, int (*)(FILE*)> metrics(std::fopen(metrics_path.c_str(), start > 0 ? "a" : "w"), &std::fclose);
  if (!metrics) fail(ErrorKind::kIo, "cannot write {}", metrics_path);

  const int64_t P = c.grpo.prompts, G = c.grpo.num_generations;
  GrpoSummary sum;
  sum.run_dir = c.checkpoint.out;
  for (int64_t step = start; step < c.train.steps; ++step) {
    GrpoStepStats st;
    st.step = step + 1;
    // 1. Rollout.
    std::vector<Problem> problems;
    std::vector<std::vector<int32_t>> prompt_ids;
    std::vector<bool> prefilled;
    std::vector<BatchRequest> reqs;
    for (int64_t j = 0; j < P; ++j) {
      problems.push_back(task_problem(task, c.train.seed, Split::kTrain, step * P + j));
      const std::string text = prompter.render(problems.back());
      prefilled.push_back(prompt_prefills_think(text));
      prompt_ids.push_back(prompter.encode(text));
      for (int64_t g = 0; g < G; ++g) {
        BatchRequest r;
        r.prompt = prompt_ids.back();
        r.sampling.temperature = float(c.grpo.temperature);
        r.sampling.top_p = float(c.grpo.top_p);
        r.sampling.seed = mix64(mix64(c.train.seed ^ 0x6772706fULL) + uint64_t((step * P + j) * G + g));
        r.max_tokens = c.grpo.max_completion_length;
        r.stop_ids = stop;
        reqs.push_back(std::move(r));
      }
    }
    const double t0 = now_seconds();
    const std::vector<Completion> outs = gen.generate(reqs);
    st.rollout_s = now_seconds() - t0;

    // 2. Rewards and advantages.
    const int64_t errors_before = rewards.total_errors();
    std::vector<double> totals(outs.size());
    std::vector<Rollout> rs(outs.size());
    st.reward_means.assign(rewards.size(), 0.0);
    int64_t gen_tokens = 0;
    for (size_t i = 0; i < outs.size(); ++i) {
      const size_t grp = i / size_t(G);
      rs[i].group = grp;
      const Completion& o = outs[i];
      if (o.finish == FinishReason::kError) fail(ErrorKind::kInternal, "rollout {}: engine error: {}", i, o.error);
      rs[i].ids = o.ids;
      rs[i].old_logp = o.logprobs;
      gen_tokens += int64_t(o.ids.size());
      const std::string text = prompter.decode_completion(o.ids, stop);
      RewardInput in;
      in.task = &task;
      in.problem = &problems[grp];
      in.completion = text;
      in.think_prefilled = prefilled[grp];
      in.completion_tokens = int64_t(o.ids.size());
      in.max_tokens = c.grpo.max_completion_length;
      in.truncated = o.finish == FinishReason::kLength;
      const RewardScores sc = rewards.score(in);
      totals[i] = sc.total;
      for (size_t k = 0; k < sc.values.size(); ++k) st.reward_means[k] += sc.values[k];
      st.accuracy += task.check(problems[grp], parse_completion(text, prefilled[grp]).answer);
      st.truncated += in.truncated;
      rs[i].masked = in.truncated && c.grpo.mask_truncated_completions;
    }
    const double n = double(outs.size());
    for (double& m : st.reward_means) m /= n;
    for (size_t k = 0; k < rewards.size(); ++k) st.reward_names.push_back(rewards.term(k).spec.name);
    st.accuracy /= n;
    st.truncated /= n;
    st.completion_length = double(gen_tokens) / n;
    st.reward_errors = rewards.total_errors() - errors_before;
    for (double t : totals) st.reward += t / n;
    for (double t : totals) st.reward_std += (t - st.reward) * (t - st.reward) / n;
    st.reward_std = std::sqrt(st.reward_std);
    const std::vector<double> adv = group_advantages(totals, G, c.grpo.scale_rewards);
    for (int64_t j = 0; j < P; ++j) {
      bool zero = true;
      for (int64_t g = 0; g < G; ++g) zero = zero && adv[size_t(j * G + g)] == 0.0;
      st.zero_advantage_groups += zero ? 1.0 / double(P) : 0.0;
    }
    for (size_t i = 0; i < rs.size(); ++i) rs[i].advantage = adv[i];

    // 3. Reference log-probabilities.
    const double t1 = now_seconds();
    auto group_ids = [&](int64_t j) {
      std::vector<std::vector<int32_t>> ids;
      for (int64_t g = 0; g < G; ++g) ids.push_back(rs[size_t(j * G + g)].ids);
      return ids;
    };
    if (ref_model)
      for (int64_t j = 0; j < P; ++j) {
        const std::vector<TokenScores> sc = score_completions(*ref_model, prompt_ids[size_t(j)], group_ids(j));
        for (int64_t g = 0; g < G; ++g) rs[size_t(j * G + g)].ref_logp = sc[size_t(g)].logp;
      }

    // 4. μ updates.
    int64_t trained_tokens = 0;
    for (int64_t it = 0; it < c.grpo.num_iterations; ++it) {
      std::vector<TokenScores> cur(rs.size());
      for (int64_t j = 0; j < P; ++j) {
        std::vector<TokenScores> sc = score_completions(scorer, prompt_ids[size_t(j)], group_ids(j));
        for (int64_t g = 0; g < G; ++g) cur[size_t(j * G + g)] = std::move(sc[size_t(g)]);
      }
      std::vector<GrpoSequence> seqs;
      double ent = 0;
      int64_t ent_n = 0;
      for (size_t i = 0; i < rs.size(); ++i) {
        if (rs[i].masked) seqs.push_back({{}, {}, {}, 0.0});  // counts in S, adds no token (TRL's masking)
        else seqs.push_back({cur[i].logp, rs[i].old_logp, rs[i].ref_logp, rs[i].advantage});
        for (float e : cur[i].entropy) ent += e, ++ent_n;
      }
      const GrpoResult gr = grpo_loss(seqs, gs, true);
      if (it == 0) {
        st.kl = gr.kl;
        st.loss = gr.loss;
        st.entropy = ent_n > 0 ? ent / double(ent_n) : 0.0;
      }
      st.clip_fraction += gr.clip_fraction / double(c.grpo.num_iterations);
      const std::vector<MicroBatch> mbs = micro_batches(rs, prompt_ids, gr.grad, c.train.micro_batch);
      if (mbs.empty()) continue;  // no completion tokens at all
      const StepResult r = trainer.step(mbs);
      trained_tokens += r.tokens;
      st.grad_norm = r.grad_norm;
      st.lr = r.lr;
      st.skipped_updates += !r.applied;
      gen.update_weights([&] { w = trainer.store().weights(); });
    }
    st.update_s = now_seconds() - t1;
    st.rollout_tokens_per_s = st.rollout_s > 0 ? double(gen_tokens) / st.rollout_s : 0;
    st.update_tokens_per_s = st.update_s > 0 ? double(trained_tokens) / st.update_s : 0;

    std::fprintf(metrics.get(), "%s\n", grpo_step_json(st).c_str());
    std::fflush(metrics.get());
    if ((c.checkpoint.every > 0 && st.step % c.checkpoint.every == 0) || st.step == c.train.steps) {
      nlohmann::json meta = trainer.state_json();
      meta["grpo_step"] = st.step;
      meta["model"] = model_json;
      save_checkpoint(c.checkpoint.out, st.step, trainer.state_tensors(), meta, int(c.checkpoint.keep_last));
    }
    if (on_step) on_step(st);
    sum.steps.push_back(std::move(st));
  }
  sum.weights_version = gen.metrics().weights_version;
  if (!c.checkpoint.export_dir.empty()) {
    export_params_hf(trainer.store(), c.checkpoint.export_dir);
    // The tokenizer travels with the export so that eval-task and generate read it from there.
    copy_tokenizer_files(c.model.init, c.model.tokenizer, c.checkpoint.export_dir);
    sum.export_dir = c.checkpoint.export_dir;
  }
  return sum;
}

}  // namespace frugal
