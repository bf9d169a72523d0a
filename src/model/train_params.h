// The trainable view of a DeepSeek-V2/V3 model: every parameter as an f32 value with its f32
// gradient beside it (master weights and gradients stay f32 on this CPU; FP8/BF16 training will
// quantise copies of `w`, not replace it). The same block structs as model/weights.h, with
// Param slots and the Hugging Face names, so the inference forward and the training forward read
// the same numbers.
//
// Convention: a matrix is [rows, cols] row-major (a Linear weight is [out, in], the nn.Linear
// layout used by matmul_xwt); a vector (norm weight) has rows = 1, cols = its length.
// Gradients are accumulated (+=) by every backward, so micro-batches sum; the trainer zeroes them.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/linear.h"
#include "model/tensor_table.h"

namespace frugal {

struct Param {
  float* w = nullptr;  // value [rows, cols]
  float* g = nullptr;  // gradient, same shape (null: frozen, no gradient wanted)
  int64_t rows = 0, cols = 0;

  int64_t numel() const { return rows * cols; }
  // The value as an f32 WeightView, so inference kernels (matmul_xwt) can read it.
  WeightView view() const {
    WeightView v;
    v.dtype = DType::kF32;
    v.rows = rows;
    v.cols = cols;
    v.ld = cols;
    v.data = w;
    return v;
  }
};

// The block structs and their tensors are declared once, in model/tensor_table.h. In training an
// MTP module's embed_tokens / shared_head_head alias the main model's Params (docs/model.md,
// Multi-token prediction; V3 report §3.2.3), so their gradients add up in one place; export
// writes the copies HF checkpoints carry.
// The routing bias (noaux_tc) is a buffer: a bare f32 pointer [E], no gradient, updated by the
// aux-loss-free rule; null if unused.
struct ParamSlots {
  using Mat = Param;
  using Vec = Param;
  using Buf = float*;
};
using MlaParams = MlaT<ParamSlots>;
using MlpParams = MlpT<ParamSlots>;
using MoeParams = MoeT<ParamSlots>;
using LayerParams = LayerT<ParamSlots>;
using MtpParams = MtpT<ParamSlots>;
using ModelParams = ModelT<ParamSlots>;

}  // namespace frugal
