#include "backend/cuda/cuda_regions.h"

namespace lazyplus {

std::vector<RegionSource> RegionSources(const Graph& graph) {
  Schedule schedule = Partition(graph, kCudaFusion);
  auto escaping = EscapingValues(graph, schedule);
  std::vector<RegionSource> sources;
  for (const Region& region : schedule.regions) {
    CompiledRegion compiled = CompileRegion(region, escaping);
    CudaSource source = RenderCuda(compiled.program);
    sources.push_back({std::move(source), region, std::move(compiled)});
  }
  return sources;
}

}  // namespace lazyplus
