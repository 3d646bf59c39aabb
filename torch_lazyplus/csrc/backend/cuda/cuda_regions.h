#pragma once
// The CUDA target's view of a graph: its fusion policy, and the CUDA source of each region its
// schedule fuses (what the CUDA lowering compiles with NVRTC; inspectable without a GPU).
#include <limits>

#include "backend/cuda/cuda_source.h"
#include "schedule/partition.h"

namespace lazyplus {

// Rows of any length fuse: longer rows than a block holds in registers run the looped kernel.
inline constexpr FusionPolicy kCudaFusion{/*max_row=*/std::numeric_limits<int64_t>::max()};

struct RegionSource {
  CudaSource source;
  Region region;
  CompiledRegion compiled;  // its inputs and outputs, and where its shape splits into rows and cols
};

std::vector<RegionSource> RegionSources(const Graph& graph);

}  // namespace lazyplus
