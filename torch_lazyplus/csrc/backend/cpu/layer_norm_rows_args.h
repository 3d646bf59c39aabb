#pragma once
// What the per-instruction-set layer-norm kernels (layer_norm_rows_impl.h) read and write: float32
// rows of `cols` values, contiguous.
#include <cstdint>

namespace lazyplus {

struct LayerNormForwardArgs {
  const float* input;
  const float *gamma, *beta;  // null: no weight, no bias
  float *output, *mean, *rstd;  // mean, rstd: one value per row
  int64_t rows, cols;
  float eps;
};

struct LayerNormBackwardArgs {
  const float *grad_out, *input, *mean, *rstd;  // mean, rstd: one value per row
  const float* gamma;                           // null: no weight
  float *grad_input, *grad_gamma, *grad_beta;   // null: not asked for
  int64_t rows, cols;
  // ATen splits the rows into `parts` (its thread count) and sums each part's gamma and beta gradients
  // apart: zeroed, 64-byte aligned, 2 x parts sums of `cols` values, each `partial_stride` floats (a
  // multiple of 16: parts on other cache lines) after the one before.
  float* partial_sums;
  int64_t parts, partial_stride;
};

}  // namespace lazyplus
