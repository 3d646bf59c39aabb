#pragma once
// ATen's CPU flash attention and its backward, for short sequences and narrow heads, as one pass per
// (batch, head) held in L1 (small_attention_impl.h). ATen's kernel pays for its generality at such
// sizes: the README demo's attention (16 x 4 heads x 32 positions x 16) took 114 us forward and 222 us
// backward of its step, plus three zero-filled gradient buffers, on the 2-core Xeon. Larger attention
// keeps ATen's kernel, as does anything it handles that these do not (masks, dropout, other dtypes).
#include "backend/step_program.h"

namespace lazyplus {

// _scaled_dot_product_flash_attention_for_cpu or its backward.
bool IsFlashAttention(const Node& node);
// Its step: the small kernels where the run's tensors fit them, else ATen's.
StepSpec SmallAttentionStep(const Graph& graph, const Node* node);

}  // namespace lazyplus
