#pragma once
// The two layouts ATen's batch-norm kernels take (batch_norm_kernel.cpp), and the partial sums of its
// channels-last ones, for lazyplus's kernels that give eager's bits.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include "backend/cpu/thread_scratch.h"
#include "device/host_pool.h"

namespace lazyplus {

enum class BatchNormLayout {
  kPlanes,  // contiguous (N, C, ...) with more than one value a plane: each channel's planes
  kRows,    // channels-last, and contiguous with one value a plane ((N, C) included): (rows, C)
  kOther,   // anything else ATen runs on its TensorIterator path
};

inline BatchNormLayout BatchNormLayoutOf(const at::Tensor& x) {
  if (x.dim() < 2 || x.numel() == 0) return BatchNormLayout::kOther;
  if (x.is_contiguous()) {
    return x.numel() / x.size(0) / x.size(1) > 1 ? BatchNormLayout::kPlanes : BatchNormLayout::kRows;
  }
  if (x.is_contiguous(at::MemoryFormat::ChannelsLast) || x.is_contiguous(at::MemoryFormat::ChannelsLast3d)) {
    return BatchNormLayout::kRows;
  }
  return BatchNormLayout::kOther;
}

// Absent, or a float32 contiguous vector of a value a channel (weights and statistics).
inline bool PerChannelFloat(const at::Tensor* t, int64_t channels) {
  return !t || (t->scalar_type() == at::kFloat && t->dim() == 1 && t->is_contiguous() && t->size(0) == channels);
}

// A pooled tensor with x's sizes and strides (x dense, in either layout).
inline at::Tensor EmptyInLayoutOf(const at::Tensor& x) {
  return EmptyFromPool({x.numel()}, x.scalar_type()).as_strided(x.sizes(), x.strides());
}

// ATen's sums over the rows of channels-last input: the rows split into at::parallel_for's parts (one
// a thread; all in one where not `split`), add(part_sums, begin, end) adding a part's rows to its
// `count` float32 sums a channel, then each channel's part sums added in float64 in part order. Returns
// the sums, sum s of channel c at [s * channels + c], valid until the calling thread's next call.
template <typename Add>
const double* SumRowParts(int64_t rows, int64_t channels, int count, bool split, const Add& add) {
  const int64_t parts = split ? at::get_num_threads() : 1, stride = (channels + 15) / 16 * 16;  // own lines
  float* part_sums = ZeroedThreadScratch<float>(count * parts * stride);
  auto add_part = [&](int64_t part, int64_t begin, int64_t end) {
    float* mine[2] = {part_sums + part * stride, nullptr};
    if (count == 2) mine[1] = mine[0] + parts * stride;
    add(mine, begin, end);
  };
  if (split) {
    at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) { add_part(at::get_thread_num(), begin, end); });
  } else {
    add_part(0, 0, rows);
  }
  double* sums = ZeroedThreadScratch<double>(count * channels);
  for (int s = 0; s < count; ++s) {
    for (int64_t p = 0; p < parts; ++p) {
      for (int64_t c = 0; c < channels; ++c) sums[s * channels + c] += part_sums[(s * parts + p) * stride + c];
    }
  }
  return sums;
}

}  // namespace lazyplus
