// Training parameters that own their memory (f32 value + gradient), for the MLP and MoE training
// tests: random ones, or copies of a loaded checkpoint's weights.
#pragma once
#include <cmath>
#include <vector>

#include "core/rng.h"
#include "kernels/linear.h"
#include "model/train_params.h"
#include "model/weights.h"

namespace frugal::test {

struct Mat {
  std::vector<float> w, g;
  int64_t rows = 0, cols = 0;
  Mat() = default;
  Mat(int64_t r, int64_t c, Rng& rng, float scale) : w(size_t(r * c)), g(size_t(r * c), 0.0f), rows(r), cols(c) {
    for (float& v : w) v = scale * rng.normal();
  }
  explicit Mat(const WeightView& v) : w(size_t(v.rows * v.cols)), g(w.size(), 0.0f), rows(v.rows), cols(v.cols) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) w[size_t(r * cols + c)] = v.at(r, c);
  }
  Param param() { return Param{w.data(), g.data(), rows, cols}; }
};

struct TestMlp {
  Mat gate, up, down;
  TestMlp(int64_t D, int64_t F, Rng& rng)
      : gate(F, D, rng, 1.0f / std::sqrt(float(D))), up(F, D, rng, 1.0f / std::sqrt(float(D))),
        down(D, F, rng, 1.0f / std::sqrt(float(F))) {}
  explicit TestMlp(const MlpWeights& w) : gate(w.gate_proj), up(w.up_proj), down(w.down_proj) {}
  MlpParams params() { return MlpParams{gate.param(), up.param(), down.param()}; }
};

}  // namespace frugal::test
