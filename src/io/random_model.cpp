#include "io/random_model.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "core/progress.h"
#include "core/rng.h"
#include "io/hf_config.h"
#include "model/params.h"

namespace frugal {

DeepSeekConfig random_model_preset(const std::string& name) {
  DeepSeekConfig c;
  c.model_type = "deepseek_v3";
  c.topk_method = TopkMethod::kNoauxTc;
  c.scoring_func = ScoringFunc::kSigmoid;
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5;
  c.n_shared_experts = 1;
  c.first_k_dense_replace = 1;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 10000;
  c.bos_token_id = 0;
  c.eos_token_id = 1;
  c.max_position_embeddings = 163840;
  c.rope_scaling = {true, 40, 4096, 32, 1, 1.0, 1.0};  // the values DeepSeek-V3 ships
  auto set = [&](int64_t hidden, int64_t layers, int64_t heads, int64_t q_lora, int64_t kv_lora, int64_t nope,
                 int64_t rope, int64_t v, int64_t experts, int64_t topk, int64_t moe_inter, int64_t inter,
                 int64_t vocab, int64_t groups, int64_t topk_groups) {
    c.hidden_size = hidden; c.num_hidden_layers = layers; c.num_attention_heads = heads;
    c.q_lora_rank = q_lora; c.kv_lora_rank = kv_lora; c.qk_nope_head_dim = nope; c.qk_rope_head_dim = rope;
    c.v_head_dim = v; c.n_routed_experts = experts; c.num_experts_per_tok = topk;
    c.moe_intermediate_size = moe_inter; c.intermediate_size = inter; c.vocab_size = vocab;
    c.n_group = groups; c.topk_group = topk_groups;
  };
  if (name == "micro") {
    set(64, 3, 4, 32, 16, 16, 8, 16, 8, 2, 32, 128, 256, 2, 1);
    c.rope_scaling = {true, 4, 64, 32, 1, 1.0, 1.0};
    c.max_position_embeddings = 256;
  } else if (name == "tiny") {
    set(256, 4, 8, 128, 64, 32, 16, 32, 16, 4, 128, 512, 1024, 4, 2);
  } else if (name == "small") {
    set(512, 6, 8, 256, 128, 64, 32, 64, 32, 4, 256, 1536, 8192, 4, 2);
  } else if (name == "medium") {
    set(1024, 12, 16, 384, 256, 64, 32, 64, 64, 6, 512, 2816, 32000, 8, 4);
  } else {
    fail(ErrorKind::kInvalidArgument, "unknown random-model preset '{}' (expected micro, tiny, small or medium)", name);
  }
  return c;
}

namespace {

enum class Init { kLinear, kNorm, kEmbedding, kBias };

Init init_of(const TensorSpec& s) {
  switch (s.role) {
    case TensorRole::kRoutingBias: return Init::kBias;
    case TensorRole::kEmbedding:
    case TensorRole::kMtpEmbedCopy: return Init::kEmbedding;
    case TensorRole::kNorm: return Init::kNorm;
    default: return Init::kLinear;
  }
}

void fill(const TensorSpec& s, Rng& rng, std::vector<float>& v) {
  v.resize(size_t(shape_numel(s.shape)));
  const Init init = init_of(s);
  const float std_dev = init == Init::kLinear ? float(1.0 / std::sqrt(double(s.shape[1])))
                        : init == Init::kEmbedding ? 1.0f : 0.1f;
  const float mean = init == Init::kNorm ? 1.0f : 0.0f;
  for (float& x : v) x = mean + std_dev * rng.normal();
}

struct Planned {
  std::string name;
  DType dtype;
  Shape shape;
  const TensorSpec* spec;  // null for a scale tensor (derived from the previous weight)
};

}  // namespace

int64_t write_random_model(const std::string& dir, DeepSeekConfig cfg, const RandomModelOptions& opt) {
  if (opt.dtype != DType::kF32 && opt.dtype != DType::kBF16 && opt.dtype != DType::kF8E4M3)
    fail(ErrorKind::kInvalidArgument, "random models come in F32, BF16 or F8_E4M3, not {}", dtype_name(opt.dtype));
  const bool fp8 = opt.dtype == DType::kF8E4M3;
  cfg.num_nextn_predict_layers = opt.mtp ? 1 : 0;
  cfg.quant.fp8 = fp8;
  std::filesystem::create_directories(dir);
  const int64_t br = cfg.quant.block_rows, bc = cfg.quant.block_cols;

  // Plan the layout: FP8 where DeepSeek-V3 uses FP8 (+ an F32 scale grid); BF16 elsewhere in the
  // FP8 model (as released); the routing bias always F32.
  std::vector<TensorSpec> specs = expected_tensors(cfg, opt.mtp);
  std::vector<Planned> plan;
  for (const auto& s : specs) {
    DType t = opt.dtype;
    if (fp8 && !s.fp8_in_release) t = DType::kBF16;
    if (init_of(s) == Init::kBias) t = DType::kF32;
    plan.push_back({s.name, t, s.shape, &s});
    if (fp8 && s.fp8_in_release)
      plan.push_back({s.name + "_scale_inv", DType::kF32, {(s.shape[0] + br - 1) / br, (s.shape[1] + bc - 1) / bc}, nullptr});
  }
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  header["__metadata__"] = {{"format", "pt"}, {"generator", "frugal random-model"}};
  uint64_t offset = 0;
  for (const auto& p : plan) {
    const uint64_t bytes = uint64_t(shape_numel(p.shape)) * dtype_size(p.dtype);
    header[p.name] = {{"dtype", std::string(dtype_name(p.dtype))}, {"shape", p.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string hdr = header.dump();
  while ((hdr.size() + 8) % 8) hdr.push_back(' ');  // data starts 8-byte aligned

  const std::string path = path_join(dir, "model.safetensors");
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail(ErrorKind::kIo, "cannot create {}", tmp);
  auto put = [&](const void* d, size_t n) {
    if (std::fwrite(d, 1, n, f) != n) {
      std::fclose(f);
      std::remove(tmp.c_str());
      fail(ErrorKind::kIo, "cannot write {} (disk full?)", tmp);
    }
  };
  uint64_t n = hdr.size();
  put(&n, 8);
  put(hdr.data(), hdr.size());

  Rng rng(opt.seed);
  std::vector<float> v;
  std::vector<uint8_t> buf;
  std::vector<float> scales;
  Progress prog("random-model " + dir, int64_t(plan.size()), "tensors");
  for (size_t i = 0; i < plan.size(); ++i) {
    const Planned& p = plan[i];
    prog.update(int64_t(i));
    if (!p.spec) {  // the scale grid computed with the previous FP8 weight
      put(scales.data(), scales.size() * 4);
      continue;
    }
    fill(*p.spec, rng, v);
    const size_t count = v.size();
    if (p.dtype == DType::kF32) {
      put(v.data(), count * 4);
    } else if (p.dtype == DType::kBF16) {
      buf.resize(count * 2);
      auto* o = reinterpret_cast<uint16_t*>(buf.data());
      for (size_t j = 0; j < count; ++j) o[j] = f32_to_bf16(v[j]);
      put(buf.data(), buf.size());
    } else {  // FP8 E4M3 with scale_inv = amax(block) / 448 per block
      const int64_t R = p.shape[0], C = p.shape[1], gr = (R + br - 1) / br, gc = (C + bc - 1) / bc;
      scales.assign(size_t(gr * gc), 0.0f);
      for (int64_t r = 0; r < R; ++r)
        for (int64_t c = 0; c < C; ++c) {
          float& s = scales[size_t((r / br) * gc + c / bc)];
          s = std::max(s, std::fabs(v[size_t(r * C + c)]));
        }
      for (float& s : scales) s = s > 0 ? s / kE4M3Max : 1.0f;
      buf.resize(count);
      for (int64_t r = 0; r < R; ++r)
        for (int64_t c = 0; c < C; ++c)
          buf[size_t(r * C + c)] = f32_to_e4m3(v[size_t(r * C + c)] / scales[size_t((r / br) * gc + c / bc)]);
      put(buf.data(), buf.size());
    }
  }
  prog.finish();
  if (std::fflush(f) != 0 || ::fsync(fileno(f)) != 0 || std::fclose(f) != 0) {
    std::remove(tmp.c_str());
    fail(ErrorKind::kIo, "cannot flush {}", tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(ErrorKind::kIo, "cannot rename {} to {}", tmp, path);
  write_file_atomic(path_join(dir, "config.json"), hf_config_to_json(cfg).dump(2) + "\n");
  return int64_t(8 + hdr.size() + offset);
}

}  // namespace frugal
