// torch.ops.lazyplus.run_cuda_region: a fused region's CUDA kernel run on plain CUDA tensors, for
// testing the generated kernels on a GPU against eager CUDA before lazyplus tensors live there.
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

TORCH_LIBRARY_FRAGMENT(lazyplus, m) {
  m.def("run_cuda_region(str name, str text, str[] kernels, bool[] by_value, str region, bool whole_rows, "
        "int rows, int cols, Tensor[] inputs, Tensor(a!)[] outputs) -> ()");
}

TORCH_LIBRARY_IMPL(lazyplus, CUDA, m) { m.impl("run_cuda_region", &RunCudaRegion); }

}  // namespace lazyplus
