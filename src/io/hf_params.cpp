#include "io/hf_params.h"

#include <filesystem>
#include <vector>

#include "core/error.h"
#include "core/file.h"
#include "io/hf_config.h"
#include "io/quant_format.h"
#include "io/safetensors.h"
#include "kernels/quant_blocks.h"

namespace frugal {

void load_params_hf(const std::string& dir, ParamStore& store) {
  WeightStore ws(dir);
  const QuantConfig& q = store.config().quant;
  for (const ParamStore::Entry& e : store.entries()) {
    if (!ws.has(e.name)) {
      // V2-style checkpoints have no correction bias: keep it neutral (zero) rather than fail.
      if (e.role == TensorRole::kRoutingBias) continue;
      fail(ErrorKind::kShape, "{}: tensor '{}' is missing", dir, e.name);
    }
    if (const auto b = find_block_tensor(ws, e.name)) {  // GGUF q8_0 / q4_0 blocks: their exact values
      if (Shape{b->rows, b->cols} != e.shape)
        fail(ErrorKind::kShape, "{}: tensor '{}' has shape [{}, {}], the config needs {}", ws.file_of(e.name), e.name,
             b->rows, b->cols, shape_str(e.shape));
      const int64_t rb = dtype_row_bytes(b->type, b->cols);
      for (int64_t r = 0; r < b->rows; ++r) dequantize_row_q(b->type, b->data + r * rb, store.value(e) + r * b->cols, b->cols);
      continue;
    }
    Tensor t = ws.get(e.name);
    if (t.shape() != e.shape)
      fail(ErrorKind::kShape, "{}: tensor '{}' has shape {}, the config needs {}", ws.file_of(e.name), e.name,
           shape_str(t.shape()), shape_str(e.shape));
    float* dst = store.value(e);
    const std::string scale_name = e.name + "_scale_inv";
    if ((t.dtype() == DType::kF8E4M3 || t.dtype() == DType::kF8E5M2) && ws.has(scale_name)) {
      // FP8 with block scales: w[i, j] = code[i, j] · scale_inv[i / block_rows, j / block_cols].
      Tensor s = ws.get(scale_name).to_f32();
      const int64_t rows = e.shape[0], cols = e.shape[1];
      const int64_t br = q.block_rows, bc = q.block_cols, scols = (cols + bc - 1) / bc;
      if (s.numel() != ((rows + br - 1) / br) * scols)
        fail(ErrorKind::kShape, "{}: '{}' has {} scales, expected {} for {}x{} blocks", ws.file_of(scale_name),
             scale_name, s.numel(), ((rows + br - 1) / br) * scols, br, bc);
      convert_to_f32(t.dtype(), t.data(), dst, size_t(e.numel));
      const float* sc = s.data_as<float>();
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) dst[i * cols + j] *= sc[(i / br) * scols + j / bc];
    } else {
      convert_to_f32(t.dtype(), t.data(), dst, size_t(e.numel));
    }
  }
}

void export_params_hf(const ParamStore& store, const std::string& out_dir, DType dtype) {
  if (dtype != DType::kF32 && dtype != DType::kBF16)
    fail(ErrorKind::kInvalidArgument, "export dtype must be f32 or bf16");
  std::filesystem::create_directories(out_dir);
  DeepSeekConfig cfg = store.config();
  cfg.quant = QuantConfig{};  // exported weights are plain f32/bf16
  if (!store.with_mtp()) cfg.num_nextn_predict_layers = 0;
  SafetensorsWriter w;
  auto add = [&](const std::string& name, const ParamStore::Entry& e) {
    const float* v = store.value(e);
    if (dtype == DType::kF32 || !e.trainable) {
      w.add_raw(name, DType::kF32, e.shape, v, size_t(e.numel) * sizeof(float));
      return;
    }
    std::vector<uint16_t> b(size_t(e.numel));
    for (int64_t i = 0; i < e.numel; ++i) b[size_t(i)] = f32_to_bf16(v[i]);
    w.add_raw(name, DType::kBF16, e.shape, b.data(), b.size() * sizeof(uint16_t));
  };
  // Table order; the MTP modules' copies of the shared embedding and head (docs/model.md, Checkpoint tensors) come
  // with the main model's entry.
  store.for_each_tensor([&](const TensorSpec& t, const ParamStore::Entry& e) { add(t.name, e); });
  w.set_metadata("format", "pt");
  w.write(path_join(out_dir, "model.safetensors"));
  write_file_atomic(path_join(out_dir, "config.json"), hf_config_to_json(cfg).dump(2) + "\n");
}

}  // namespace frugal
