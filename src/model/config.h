// DeepSeekConfig: the model hyper-parameters of a DeepSeek-V3 / V2 / V2-Lite checkpoint, with the
// paper's (and Hugging Face config.json's) names. Parsed and validated by io/hf_config.
#pragma once
#include <cstdint>
#include <string>

namespace frugal {

enum class ScoringFunc { kSigmoid, kSoftmax };
// noaux_tc: V3 (sigmoid + correction bias, group score = sum of top-2); group_limited_greedy: V2
// (group score = max); greedy: plain top-k (V2-Lite, n_group 1).
enum class TopkMethod { kNoauxTc, kGroupLimitedGreedy, kGreedy };

struct RopeScaling {
  bool yarn = false;  // false: plain RoPE
  double factor = 1.0;
  int64_t original_max_position_embeddings = 0;
  double beta_fast = 32, beta_slow = 1;
  double mscale = 1.0, mscale_all_dim = 0.0;
};

struct QuantConfig {
  bool fp8 = false;        // quantization_config.quant_method == "fp8"
  int64_t block_rows = 128, block_cols = 128;  // weight_block_size
  // quant_method == "frugal_gguf_blocks" (io/quant_format.h): projections may be GGUF blocks.
  bool gguf_blocks = false;
  std::string gguf_weight_type;  // "q8_0" | "q4_0": what `frugal quantize` was asked for
};

struct DeepSeekConfig {
  std::string model_type;  // "deepseek_v3" | "deepseek_v2"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;      // dense FFN width (first_k_dense_replace layers)
  int64_t moe_intermediate_size = 0;  // one routed / shared expert's width
  int64_t num_hidden_layers = 0;
  int64_t num_nextn_predict_layers = 0;  // MTP depth D
  int64_t num_attention_heads = 0;
  int64_t q_lora_rank = 0;             // 0: plain q_proj (V2-Lite)
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  int64_t n_routed_experts = 0;        // 0: every layer dense
  int64_t n_shared_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t n_group = 1, topk_group = 1;
  TopkMethod topk_method = TopkMethod::kGreedy;
  ScoringFunc scoring_func = ScoringFunc::kSoftmax;
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  int64_t first_k_dense_replace = 0;
  int64_t moe_layer_freq = 1;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = -1, eos_token_id = -1;  // -1: none
  QuantConfig quant;

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  bool is_moe_layer(int64_t layer) const {
    return n_routed_experts > 0 && layer >= first_k_dense_replace && layer % moe_layer_freq == 0;
  }
  // Latent KV cache width per token per layer: kv_lora_rank + qk_rope_head_dim (576 for V3).
  int64_t kv_cache_dim() const { return kv_lora_rank + qk_rope_head_dim; }
};

}  // namespace frugal
