// Held-out task evaluation (`frugal eval-task`, docs/posttrain.md, Evaluation): the first `limit`
// problems of a task's evaluation split, `samples` completions each, generated together through
// BatchGenerator (the samples of one problem share its prompt's KV rows), scored by every reward
// of the registry. A completion is correct when the accuracy reward gives 1.
//   pass@k for k = 1, 2, 4, ... below K, and K: the mean over problems of the unbiased estimator
//           1 - C(K-c, k)/C(K, k) (c of the K samples correct; c/K for k = 1), with the Wilson
//           95% interval over problems (stats.h: exact Wilson for K = 1, conservative for K > 1).
// Sampling defaults follow the DeepSeek-R1 report's evaluation: greedy for one sample,
// temperature 0.6 and top-p 0.95 for several.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "infer/batch_generate.h"
#include "posttrain/prompt.h"
#include "posttrain/stats.h"
#include "posttrain/task.h"

namespace frugal {

struct EvalTaskOptions {
  int64_t limit = 100;       // problems (the evaluation split's first `limit`)
  int64_t samples = 1;       // completions per problem (K)
  uint64_t seed = 0;         // problem set and sampling seeds
  int64_t max_tokens = 256;  // completion budget
  float temperature = -1;    // -1: 0 (greedy) for one sample, 0.6 for several
  float top_p = -1;          // -1: 1 for one sample, 0.95 for several
};

struct EvalRecord {  // one completion
  int64_t problem = 0, sample = 0;
  std::string question, reference, completion, finish;
  int64_t tokens = 0;
  bool correct = false;
  std::vector<double> rewards;  // per EvalReport::reward_names
};

struct EvalReport {
  std::string task;
  int64_t problems = 0, samples = 0, max_tokens = 0;
  float temperature = 0, top_p = 1;
  int64_t correct = 0;  // correct completions
  std::vector<PassAt> pass;  // k = 1, then 2, 4, 8, ... below K, then K (for K > 1)
  std::vector<std::string> reward_names;
  std::vector<double> reward_means;
  std::vector<int64_t> reward_errors;             // rewards that threw (scored 0), per reward
  std::vector<std::string> reward_first_errors;
  int64_t generation_errors = 0;                  // completions that ended in an engine error (wrong)
  std::string first_generation_error;
  double mean_completion_tokens = 0, truncated_fraction = 0;
  int64_t prompt_tokens = 0, cached_prompt_tokens = 0, completion_tokens = 0;
  double seconds = 0;  // generation wall time
};

// Throws kInvalidArgument for limit < 1, samples < 1, max_tokens < 1, bad sampling values, and
// (from BatchGenerator, naming the request) prompts the model cannot take.
EvalReport run_eval_task(BatchGenerator& gen, const TaskPrompter& prompter, const Task& task, int64_t model_eos_token_id,
                         const EvalTaskOptions& opt, std::vector<EvalRecord>* records = nullptr);

}  // namespace frugal
