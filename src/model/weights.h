// The weights of a DeepSeek-V2/V3 model as views in their stored dtype (usually straight into an
// mmapped checkpoint: nothing is dequantised at load time). Norm vectors and routing biases are
// tiny and kept as f32 copies. Names follow the Hugging Face checkpoint / DeepSeek paper.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/linear.h"
#include "model/tensor_table.h"

namespace frugal {

// The block structs and their tensors are declared once, in model/tensor_table.h.
struct WeightSlots {
  using Mat = WeightView;
  using Vec = std::vector<float>;
  using Buf = std::vector<float>;  // the routing bias (empty when the config has none)
};
using MlaWeights = MlaT<WeightSlots>;
using MlpWeights = MlpT<WeightSlots>;
using MoeWeights = MoeT<WeightSlots>;
using LayerWeights = LayerT<WeightSlots>;
using MtpWeights = MtpT<WeightSlots>;  // multi-token prediction module k (docs/model.md, Multi-token prediction)
using ModelWeights = ModelT<WeightSlots>;

// Row `r` of an embedding-like weight, widened to f32.
void weight_row_f32(const WeightView& w, int64_t r, float* out);

}  // namespace frugal
