#pragma once
// Host memory for the values programs compute. Large blocks are cached by size when freed and
// handed out again: a fresh 64 MiB buffer costs ~10 ms of page faults and zeroing, a reused one
// nothing, and a training loop asks for the same sizes every step.
#include <ATen/core/Tensor.h>

namespace lazyplus {

// An uninitialized contiguous CPU tensor whose memory comes from the pool.
at::Tensor EmptyFromPool(at::IntArrayRef sizes, at::ScalarType dtype);
// Returns every cached block to the system.
void EmptyPoolCache();

}  // namespace lazyplus
