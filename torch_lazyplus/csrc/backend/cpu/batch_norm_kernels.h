#pragma once
// Batch norm's float32 kernels for its training forward and its backward, one table per instruction
// set (batch_norm_kernels_impl.h), picked by the tile ISA as ATen picks its CPU capability.
#include <cstdint>

#include "backend/cpu/tile_interpreter.h"

namespace lazyplus {

// The input gradient's per-channel terms: dx = (dy - grad_mean - (x - mean) * k) * invstd * weight.
struct RowGradientTerms {
  const float *mean, *k, *grad_mean, *invstd, *weight;
};

struct BatchNormKernels {
  // Input of planes, (batches, channels, plane) in memory: one channel's `batches` runs of `plane`
  // floats `stride` apart.
  double (*value_sum)(const float* first, int64_t batches, int64_t plane, int64_t stride);
  double (*squared_deviation_sum)(const float* first, int64_t batches, int64_t plane, int64_t stride, float mean);
  void (*normalize_channel)(float* out, const float* in, int64_t batches, int64_t plane, int64_t stride, float mean,
                            float invstd, float weight, float bias);
  // Channels-last input, (rows, channels) in memory. The add_* kernels add the rows' terms to float32
  // sums per channel, row after row.
  void (*add_values)(float* sums, const float* x, int64_t rows, int64_t channels);
  void (*add_squared_deviations)(float* sums, const float* x, int64_t rows, int64_t channels, const float* mean);
  void (*add_gradient_terms)(float* dy_sums, float* dot_sums, const float* x, const float* dy, int64_t rows,
                             int64_t channels, const float* mean);  // sums of dy and of (x - mean) * dy
  // out = x * alpha + beta with alpha = invstd * weight, beta = bias - mean * alpha (weight and bias
  // may be null).
  void (*linear_terms)(float* alpha, float* beta, const float* mean, const float* invstd, const float* weight,
                       const float* bias, int64_t channels);
  void (*normalize_rows)(float* out, const float* x, int64_t rows, int64_t channels, const float* alpha,
                         const float* beta);
  void (*input_gradient_rows)(float* dx, const float* x, const float* dy, int64_t rows, int64_t channels,
                              const RowGradientTerms& terms);
};

namespace AVX512 {
extern const BatchNormKernels kBatchNormKernels;
}
namespace AVX2 {
extern const BatchNormKernels kBatchNormKernels;
}
namespace DEFAULT {
extern const BatchNormKernels kBatchNormKernels;
}

inline const BatchNormKernels& BatchNormKernelsOfTileIsa() {
  return *ForTileIsa(&AVX512::kBatchNormKernels, &AVX2::kBatchNormKernels, &DEFAULT::kBatchNormKernels);
}

}  // namespace lazyplus
