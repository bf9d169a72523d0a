// Interleaved rotary position embedding (the released DeepSeek convention: adjacent pairs
// (2i, 2i+1) rotate by pos · inv_freq[i], cos/sin scaled by YaRN's mscale), forward and backward.
// One rotation loop serves inference (arbitrary positions per row, one slice per call) and training
// (positions 0..T-1 repeating per sequence, every head's slice in one pass); both read cos/sin
// from a RopeAngles table, so the trig is evaluated once per (position, pair), not once per head.
//
// Dims legend: N rows, P positions in a table, R rotated width, half = R/2 pairs.
#pragma once
#include <cstdint>
#include <vector>

namespace frugal {

// cos/sin [P, half] of positions pos[0..P): cos[p·half + i] = float(cos(pos[p]·inv_freq[i]) · mscale),
// likewise sin. Angles are formed in double: pos·freq reaches 1e5 rad at long context, where f32
// would lose ~1e-2 rad; the product with mscale is rounded to f32 once.
struct RopeAngles {
  int64_t positions = 0, half = 0;
  std::vector<float> cos, sin;
};
RopeAngles rope_angles(const int64_t* pos, int64_t P, const double* inv_freq, int64_t half, double mscale);

// Which slices of which rows to rotate: row n (n < N) of a matrix with row stride ld, nh slices at
// columns off + h·hstride (h < nh), each 2·angles.half wide; row n uses position row n % P of the
// table (P = angles.positions). Inference: a table of the N rows' positions (n % N = n). Training:
// B sequences of T tokens, a table of 0..T-1.
struct RopeSlices {
  int64_t ld = 0, N = 0, nh = 1, off = 0, hstride = 0;
};

// dst = mscale·Rot(θ) src on the slices (src and dst share the layout and may alias; columns
// outside the slices are not touched, not even copied).
void rope_forward(const float* src, float* dst, const RopeSlices& s, const RopeAngles& angles);

// Backward, in place on the gradient g: the forward is the linear map mscale·Rot(θ) per pair, so
// its transpose is mscale·Rot(−θ), the inverse rotation still scaled by mscale (not divided by it).
void rope_backward(float* g, const RopeSlices& s, const RopeAngles& angles);

// Plain reference of rope_forward's spec for one slice of R values at position `pos`, in double
// (cos/sin unrounded): the tests compare both passes against it.
void rope_ref(double* x, int64_t R, int64_t pos, const double* inv_freq, double mscale);

// The inference call: rotate the first R columns of each of T rows of x (row stride ld), row t at
// position pos[t]; R odd leaves the last column alone. In place.
void rope_interleaved(float* x, int64_t ld, int64_t T, int64_t R, const int64_t* pos, const double* inv_freq,
                      double mscale);
// Its backward, in place on the gradient dx of the same layout.
void rope_interleaved_backward(float* dx, int64_t ld, int64_t T, int64_t R, const int64_t* pos,
                               const double* inv_freq, double mscale);

}  // namespace frugal
