#pragma once
// What the per-instruction-set attention kernels (small_attention_impl.h) read and write: float32
// tensors of shape (batch, heads, rows, width), each row contiguous, described by their strides.
#include <cstdint>

namespace lazyplus {

template <typename T>
struct HeadRows {
  T* data;
  int64_t batch, head, row;  // strides, in elements
  T* At(int64_t b, int64_t h, int64_t i = 0) const { return data + b * batch + h * head + i * row; }
};

struct AttentionShape {
  int64_t batch, heads, queries, keys, head_dim;
  float scale;
  bool causal;  // a query sees the keys at or before its own position (top-left aligned)
};

struct AttentionForward {
  HeadRows<const float> q, k, v;
  HeadRows<float> out, lse;  // lse: one value per row
};

struct AttentionBackward {
  HeadRows<const float> grad_out, q, k, v, out, lse;
  HeadRows<float> grad_q, grad_k, grad_v;
};

}  // namespace lazyplus
