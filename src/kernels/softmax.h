// Row softmax of attention scores, forward and backward side by side. One row kernel serves the
// inference attention (full rows, future keys masked with −inf) and the training attention (causal
// query blocks that only touch each row's visible keys); a double reference sits beside it.
//
// Dims legend: T rows, n entries per row (keys), ld row stride.
#pragma once
#include <cstdint>

namespace frugal {

// In-place softmax over each of T rows of length n (row stride ld); rows whose entries are all
// −inf become all-zero rather than NaN.
void softmax_rows(float* x, int64_t T, int64_t n, int64_t ld);

// Causal block of T query rows (row stride ld) whose first row sees `first` keys: row r is the
// softmax of its first first + r entries, and entries [first + r, width) are set to 0 (width ≥
// first + T − 1). The same arithmetic as softmax_rows on the row with those entries at −inf, but
// the masked tail is never read, so it need not be written first.
void softmax_causal_rows(float* x, int64_t T, int64_t first, int64_t width, int64_t ld);

// Backward of softmax_rows, given its output y: dx_i = y_i · (dy_i − Σ_j y_j·dy_j) per row (row
// stride ld for y, dy and dx), the row sum in double. Fully masked rows (y all zero) get dx = 0.
// dx may alias dy.
void softmax_rows_backward(const float* y, const float* dy, int64_t T, int64_t n, int64_t ld, float* dx);

// Backward of softmax_causal_rows (same block layout), in place on the gradient: dy [T, width]
// becomes dx, with the masked entries [first + r, width) of row r set to 0.
void softmax_causal_rows_backward(const float* y, float* dy, int64_t T, int64_t first, int64_t width, int64_t ld);

// Plain reference in double: softmax of x[0, n) in place, all −inf → all zero.
void softmax_ref(double* x, int64_t n);

}  // namespace frugal
