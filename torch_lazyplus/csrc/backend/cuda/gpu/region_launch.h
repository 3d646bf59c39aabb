#pragma once
// Runs a fused region's CUDA kernel on CUDA tensors, on the current stream: the variant and grid of
// launch_config.h, the module compiled for the device's architecture (kernel_cache.h) loaded once.
// Files under gpu/ link the CUDA runtime: they build into liblazyplus_cuda.so, only where torch is a
// CUDA build.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "backend/cuda/cuda_source.h"

namespace lazyplus {

struct RegionLaunch {
  const CudaSource& source;
  const std::string& region;  // what it computes, for errors
  bool whole_rows;
  int64_t rows, cols;
};

// `inputs` and `outputs`, in the kernel's parameter order: contiguous CUDA tensors on one device, and
// one-element CPU tensors for the inputs the source takes by value.
void LaunchRegion(const RegionLaunch& launch, const std::vector<at::Tensor>& inputs,
                  const std::vector<at::Tensor>& outputs);

}  // namespace lazyplus
