#include "io/quantize.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <vector>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "io/hf_config.h"
#include "io/quant_format.h"
#include "io/safetensors.h"
#include "kernels/quant_blocks.h"
#include "model/params.h"

namespace frugal {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kFp8Block = 128;  // the released V3 weight_block_size

// Tensor `name` [N, K] as f32, refusing NaN / Inf with the tensor, row and column.
std::vector<float> tensor_f32(const WeightStore& store, const std::string& name, int64_t N, int64_t K) {
  std::vector<float> w(static_cast<size_t>(N * K));
  convert_to_f32(store.entry(name).dtype, store.get(name).data(), w.data(), w.size());
  for (size_t i = 0; i < w.size(); ++i)
    if (!std::isfinite(w[i]))
      fail(ErrorKind::kInvalidArgument, "{}: tensor '{}' has {} at [{}, {}]; cannot quantize non-finite weights",
           store.file_of(name), name, w[i], int64_t(i) / K, int64_t(i) % K);
  return w;
}

// fp8-block: codes [N, K] e4m3 and scale_inv [ceil(N/128), ceil(K/128)].
void quantize_fp8_block(const std::vector<float>& w, int64_t N, int64_t K, std::vector<uint8_t>& codes,
                        std::vector<float>& scale_inv) {
  const int64_t sr = (N + kFp8Block - 1) / kFp8Block, sc = (K + kFp8Block - 1) / kFp8Block;
  codes.assign(static_cast<size_t>(N * K), 0);
  scale_inv.assign(static_cast<size_t>(sr * sc), 1.0f);
  for (int64_t bi = 0; bi < sr; ++bi)
    for (int64_t bj = 0; bj < sc; ++bj) {
      const int64_t r1 = std::min(N, (bi + 1) * kFp8Block), c1 = std::min(K, (bj + 1) * kFp8Block);
      float amax = 0.0f;
      for (int64_t r = bi * kFp8Block; r < r1; ++r)
        for (int64_t c = bj * kFp8Block; c < c1; ++c) amax = std::max(amax, std::fabs(w[size_t(r * K + c)]));
      const float s = amax > 0.0f ? amax / kE4M3Max : 1.0f;
      scale_inv[size_t(bi * sc + bj)] = s;
      for (int64_t r = bi * kFp8Block; r < r1; ++r)
        for (int64_t c = bj * kFp8Block; c < c1; ++c)
          codes[size_t(r * K + c)] = f32_to_e4m3(w[size_t(r * K + c)] / s, Saturate::kYes);
    }
}

void refuse_quantized_input(const std::string& in_dir, const DeepSeekConfig& cfg, const WeightStore& store) {
  if (cfg.quant.fp8 || cfg.quant.gguf_blocks)
    fail(ErrorKind::kInvalidArgument,
         "{}: the model is already quantized (config.json quantization_config.quant_method = \"{}\"); quantize its "
         "f32/bf16 original instead", path_join(in_dir, "config.json"), cfg.quant.fp8 ? "fp8" : kGgufBlocksMethod);
  for (const std::string& n : store.names()) {
    const DType t = store.entry(n).dtype;
    if (t == DType::kF8E4M3 || t == DType::kF8E5M2 || t == DType::kU8 || n.ends_with("_scale_inv"))
      fail(ErrorKind::kInvalidArgument, "{}: tensor '{}' is already quantized ({}); quantize the f32/bf16 original instead",
           store.file_of(n), n, n.ends_with("_scale_inv") ? "a block-scale tensor" : std::string(dtype_name(t)));
  }
}

// config.json of IN_DIR (unknown keys kept) with the quantization_config of `type`.
std::string quantized_config_json(const std::string& in_dir, const std::string& type) {
  const std::string path = path_join(in_dir, "config.json");
  nlohmann::json j = parse_json(read_file(path), path);
  if (type == "fp8-block")
    j["quantization_config"] = {{"activation_scheme", "dynamic"},
                                {"fmt", "e4m3"},
                                {"quant_method", "fp8"},
                                {"weight_block_size", {kFp8Block, kFp8Block}}};
  else
    j["quantization_config"] = {{"quant_method", kGgufBlocksMethod}, {"weight_type", type}, {"block_size", 32}};
  return j.dump(2) + "\n";
}

bool is_weight_file(const std::string& name) {
  return name.ends_with(".safetensors") || name == "model.safetensors.index.json" || name == "config.json";
}

}  // namespace

QuantizeReport quantize_model(const std::string& in_dir, const std::string& out_dir, const QuantizeOptions& opt) {
  const bool fp8 = opt.type == "fp8-block";
  const std::optional<DType> block = block_type_from_name(opt.type);
  if (!fp8 && !block)
    fail(ErrorKind::kInvalidArgument, "--type '{}': expected fp8-block, q8_0 or q4_0", opt.type);
  std::regex exclude;
  try {
    if (!opt.exclude.empty()) exclude = std::regex(opt.exclude, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    fail(ErrorKind::kInvalidArgument, "--exclude '{}': not a valid regular expression ({})", opt.exclude, e.what());
  }
  if (fs::exists(out_dir))
    fail(ErrorKind::kInvalidArgument, "{}: already exists; quantize writes a new folder and never overwrites", out_dir);

  const DeepSeekConfig cfg = load_hf_config(in_dir);
  const WeightStore store(in_dir);
  refuse_quantized_input(in_dir, cfg, store);
  std::map<std::string, bool> quantizable;  // every tensor of the layout -> fp8_in_release
  for (const TensorSpec& t : expected_tensors(cfg, true)) quantizable[t.name] = t.fp8_in_release;

  QuantizeReport rep;
  SafetensorsWriter out;
  out.set_metadata("format", "pt");
  out.set_metadata("generator", "frugal quantize --type " + opt.type);
  for (const std::string& name : store.names()) {
    const SafetensorsEntry& e = store.entry(name);
    const int64_t nbytes = int64_t(e.end - e.begin);
    rep.bytes_in += nbytes;
    const auto it = quantizable.find(name);
    const bool quantize = it != quantizable.end() && it->second && e.shape.size() == 2 &&
                          !(opt.exclude.size() && std::regex_search(name, exclude));
    if (!quantize) {
      out.add(name, store.get(name));
      rep.copied += 1;
      rep.bytes_out += nbytes;
      continue;
    }
    const int64_t N = e.shape[0], K = e.shape[1];
    if (block && K % kQBlock != 0)
      fail(ErrorKind::kInvalidArgument,
           "{}: tensor '{}' has {} input columns, not a multiple of the {}-value {} block; leave it out with --exclude "
           "or use --type fp8-block", store.file_of(name), name, K, kQBlock, opt.type);
    const std::vector<float> w = tensor_f32(store, name, N, K);
    if (fp8) {
      std::vector<uint8_t> codes;
      std::vector<float> scale_inv;
      quantize_fp8_block(w, N, K, codes, scale_inv);
      out.add_raw(name, DType::kF8E4M3, {N, K}, codes.data(), codes.size());
      const Shape ss = {(N + kFp8Block - 1) / kFp8Block, (K + kFp8Block - 1) / kFp8Block};
      out.add_raw(name + "_scale_inv", DType::kF32, ss, scale_inv.data(), scale_inv.size() * sizeof(float));
      rep.bytes_out += int64_t(codes.size() + scale_inv.size() * sizeof(float));
    } else {
      const int64_t rb = dtype_row_bytes(*block, K);
      std::vector<uint8_t> q(static_cast<size_t>(N * rb));
      for (int64_t r = 0; r < N; ++r) {
        try {
          quantize_row_q(*block, w.data() + r * K, q.data() + r * rb, K);
        } catch (const Error& err) {
          fail(ErrorKind::kInvalidArgument, "{}: tensor '{}' row {}: {}", store.file_of(name), name, r, err.what());
        }
      }
      out.add_raw(name, DType::kU8, {N, rb}, q.data(), q.size());
      out.set_metadata(kQuantMetadataPrefix + name, block_tensor_metadata(*block, N, K));
      rep.bytes_out += int64_t(q.size());
    }
    rep.quantized += 1;
  }

  // Everything into a temporary folder beside OUT, then one rename.
  const fs::path final_path = fs::absolute(fs::path(out_dir)).lexically_normal();
  const fs::path tmp = final_path.parent_path() / (final_path.filename().string() + ".tmp-" + std::to_string(getpid()));
  try {
    fs::create_directories(tmp);
    out.write((tmp / "model.safetensors").string());
    write_file_atomic((tmp / "config.json").string(), quantized_config_json(in_dir, opt.type));
    for (const auto& f : fs::directory_iterator(in_dir)) {
      const std::string fname = f.path().filename().string();
      if (f.is_regular_file() && !is_weight_file(fname)) write_file_atomic((tmp / fname).string(), read_file(f.path().string()));
    }
    fs::rename(tmp, final_path);
  } catch (const fs::filesystem_error& e) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    fail(ErrorKind::kIo, "{}: {}", out_dir, e.what());
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  return rep;
}

}  // namespace frugal
