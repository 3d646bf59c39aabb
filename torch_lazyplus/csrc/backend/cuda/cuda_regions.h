#pragma once
// The CUDA target's view of a graph: its fusion policy, and the CUDA source of each region its
// schedule fuses (what the CUDA lowering compiles with NVRTC; inspectable without a GPU).
#include <limits>
#include <set>
#include <string>

#include "backend/cuda/cuda_source.h"
#include "schedule/partition.h"

namespace lazyplus {

// Rows of any length fuse: longer rows than a block holds in registers run the looped kernel. A
// region takes at most 64 nodes (inductor's max_fusion_size too): its inputs are kernel parameters
// (host numbers included) that ptxas keeps in registers, and a test's chain of 20,000 fused
// multiply-adds was one region reading 60,000 host numbers, a 21 MB source that g++ had not compiled
// after 16 minutes; chains of 128 and 256 multiply-adds or addcmul+clamp nodes spilled 130-950 bytes
// on sm_90, 64 none.
inline constexpr FusionPolicy kCudaFusion{/*max_row=*/std::numeric_limits<int64_t>::max(), /*aten_when_alone=*/nullptr,
                                          /*max_nodes=*/64};

struct RegionSource {
  CudaSource source;
  Region region;
  CompiledRegion compiled;  // its inputs and outputs, and where its shape splits into rows and cols
};

RegionSource SourceOf(const Region& region, const std::set<TileBuilder::ValueKey>& escaping);
// Every region of the graph's CUDA schedule.
std::vector<RegionSource> RegionSources(const Graph& graph);
// The region's ops, for errors (as debug.cuda_sources' "ops").
std::string Describe(const Region& region);

}  // namespace lazyplus
