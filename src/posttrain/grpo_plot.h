// The plot of a GRPO run (docs/posttrain.md, GRPO training): RUN_DIR/grpo_metrics.jsonl as a
// PlotPage (train/plot.h) for `frugal plot`: the reward (total and each reward function), accuracy,
// completion length with the share cut at the budget, KL to the reference, clip fraction and the
// share of groups without signal, entropy, and the tokens/s of rollout against update.
#pragma once
#include <string>

#include "train/plot.h"

namespace frugal {

// Throws kIo when the file is missing, kFormat naming the file and line for a malformed record
// other than a cut-off last one (a killed run: skipped with a warning) or when there is none.
// A resumed run's repeated steps replace the earlier records from that step on.
PlotPage grpo_plot(const std::string& metrics_path, const std::string& title);

}  // namespace frugal
