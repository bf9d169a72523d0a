// The GRPO objective (DeepSeekMath §4.1; DeepSeek-R1 §2.2.1) as pure functions: group-normalised
// advantages, the clipped policy-ratio surrogate, the k3 KL estimator to a frozen reference, the
// loss normalisations TRL offers, and the gradient with respect to each token's log-probability,
// which becomes the per-token weight of Trainer::step's weighted cross-entropy (docs/posttrain.md,
// GRPO objective).
//
// Per token t of completion i, with x = log π_θ(o_t), x_old the rollout engine's log-probability
// of the same token, r = log π_ref(o_t), and the completion's advantage A:
//   ρ     = exp(x − x_old)
//   surr  = min(ρ·A, clip(ρ, 1 − ε_low, 1 + ε_high)·A)
//   k3    = exp(r − x) − (r − x) − 1          (≥ 0, unbiased for KL(π_θ ‖ π_ref) under π_θ samples)
//   ℓ_it  = −surr + β·k3                     (a loss: minimised)
// and the loss over S completions of n_i tokens:
//   sequence: L = (1/S) Σ_i (1/n_i) Σ_t ℓ_it   (DeepSeekMath's GRPO; TRL loss_type "grpo")
//   token:    L = Σ_i Σ_t ℓ_it / Σ_i n_i        (every token weighs the same; TRL "bnpo"/"dapo")
//   constant: L = Σ_i Σ_t ℓ_it / (S · L_max)     (Dr. GRPO; TRL "dr_grpo"; L_max the completion budget)
// (an empty completion counts in S with n_i taken as 1, as TRL clamps it).
//
// Gradient. ℓ depends on the parameters only through x, so ∂L/∂θ = Σ_it c_i · ∂ℓ_it/∂x_it · ∂x_it/∂θ
// with c_i the normalisation factor of completion i (1/(S·n_i), 1/Σn, 1/(S·L_max)). Per token:
//   ∂ρ/∂x = ρ. If the min takes the unclipped term ρ·A, ∂surr/∂x = ρ·A. It takes the clipped term
//   exactly when clipping lowers it: A > 0 and ρ > 1 + ε_high, or A < 0 and ρ < 1 − ε_low; the
//   clipped term is constant in x there, so ∂surr/∂x = 0 (these tokens are "clipped").
//   ∂k3/∂x = −exp(r − x) + 1.
//   ⇒ g_it = ∂L/∂x_it = c_i · ( −[not clipped]·ρ·A + β·(1 − exp(r − x)) ).
// Trainer::step minimises (1/K) Σ_k Σ_t w_t·CE_t / N_k with CE_t = −x_t, whose gradient with
// respect to x_t is −w_t / (K·N_k). With loss_norm N_k = 1 on each of the K micro-batches,
//   w_t = −K · g_t
// makes the two gradients equal (grpo_token_weight); prompt tokens get w = 0 (or target −1).
// tests/posttrain/test_grpo.cpp checks g against central differences of L, and the weighted
// cross-entropy kernel's logit gradient against central differences of L through log-softmax.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace frugal {

enum class AdvantageScale { kGroupStd, kNone };  // (r − mean)/(std + eps), or r − mean (Dr. GRPO)

// Rewards of consecutive groups of G completions (one group per prompt) to advantages:
//   A_i = (r_i − mean_g) / (std_g + eps), std the sample standard deviation (N − 1, as TRL's
//   torch.std); a group whose rewards are all equal gets exactly 0 (no signal, no NaN: G = 1 too).
// Throws kInvalidArgument for G < 1, a size not a multiple of G, or a non-finite reward (naming it).
std::vector<double> group_advantages(std::span<const double> rewards, int64_t G,
                                     AdvantageScale scale = AdvantageScale::kGroupStd, double eps = 1e-4);

enum class LossNorm { kSequence, kToken, kConstant };
const char* loss_norm_name(LossNorm n);  // "sequence" | "token" | "constant"

struct GrpoSettings {
  double epsilon_low = 0.2, epsilon_high = 0.2;  // ε (DAPO's clip-higher sets ε_high > ε_low)
  double beta = 0.04;                            // KL coefficient β (DeepSeekMath's 0.04); 0: no reference
  LossNorm norm = LossNorm::kSequence;
  int64_t max_completion_length = 0;  // L_max, for kConstant
};

// One completion's tokens. ref_logp may be empty when β = 0.
struct GrpoSequence {
  std::span<const float> logp, old_logp, ref_logp;  // [n]
  double advantage = 0;
};

struct GrpoResult {
  double loss = 0;           // L
  double surrogate = 0;      // the normalised mean of surr (L = −surrogate + β·kl with the same weights)
  double kl = 0;             // the normalised mean of k3
  double clip_fraction = 0;  // clipped tokens / all tokens
  int64_t tokens = 0;
  std::vector<std::vector<double>> grad;  // [S][n_i]: ∂L/∂logp, when asked for
};

// Throws kInvalidArgument for spans of different lengths, non-finite log-probabilities, bad
// settings (ε < 0, ε_low >= 1, β < 0, kConstant without L_max or with a longer completion).
GrpoResult grpo_loss(const std::vector<GrpoSequence>& seqs, const GrpoSettings& s, bool with_grad);

// The weight of one token in Trainer::step (loss_norm = 1, K micro-batches): −K·g.
inline float grpo_token_weight(double grad, int64_t micro_batches) { return float(-double(micro_batches) * grad); }

}  // namespace frugal
