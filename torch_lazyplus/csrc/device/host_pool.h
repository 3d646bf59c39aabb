#pragma once
// Host memory for the values programs compute. Blocks are cached by size when freed and handed out
// again, the last freed first: a fresh 64 MiB buffer costs ~10 ms of page faults and zeroing, a
// reused one nothing, and a training loop asks for the same sizes every step. The block freed last is
// the one most likely still in cache, so a kernel writes its output into L2 rather than memory: in
// the demo's captured step (blocks of 128 KiB, which glibc served before) attention's
// backward went from 166 to 112 us a call and the add + layer_norm regions from 44 to 32 us.
#include <ATen/core/Tensor.h>

namespace lazyplus {

// An uninitialized contiguous CPU tensor whose memory comes from the pool.
at::Tensor EmptyFromPool(at::IntArrayRef sizes, at::ScalarType dtype);
// Returns every cached block to the system.
void EmptyPoolCache();

// While one is alive (in any thread), the process's CPU allocator is the pool: the ATen kernels a
// program runs (convolutions, batch norm, copies) take their outputs' memory from it, reused step
// after step, instead of fresh pages from the system (a ResNet-style CNN's step on glibc took 6,500
// page faults, ~8 ms of a 30 ms step). CPU tensors other threads make meanwhile come from the pool
// too: it is a complete CPU allocator.
class PoolAsCpuAllocator {
 public:
  PoolAsCpuAllocator();
  ~PoolAsCpuAllocator();
  PoolAsCpuAllocator(const PoolAsCpuAllocator&) = delete;
  PoolAsCpuAllocator& operator=(const PoolAsCpuAllocator&) = delete;
};

}  // namespace lazyplus
