// The CUDA kernel of torch.ops.lazyplus.run_cuda_region (defined by the CUDA lowering): a fused
// region's kernel run on CUDA tensors, for the CUDA backend's programs and for testing the generated
// kernels against eager CUDA.
#include <torch/library.h>

#include "backend/cuda/gpu/region_launch.h"

namespace lazyplus {
namespace {

void RunCudaRegion(const std::string& name, const std::string& text, std::vector<std::string> kernels,
                   c10::List<bool> by_value, const std::string& region, bool whole_rows, int64_t rows, int64_t cols,
                   const std::vector<at::Tensor>& inputs, const std::vector<at::Tensor>& outputs) {
  CudaSource source{name, text, std::move(kernels), {}, std::vector<bool>(by_value.begin(), by_value.end())};
  LaunchRegion(RegionLaunch{source, region, whole_rows, rows, cols}, inputs, outputs);
}

}  // namespace

TORCH_LIBRARY_IMPL(lazyplus, CUDA, m) { m.impl("run_cuda_region", &RunCudaRegion); }

}  // namespace lazyplus
