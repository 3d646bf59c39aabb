#include "backend/cuda/cuda_regions.h"

#include "ir/core_nodes.h"

namespace lazyplus {

std::vector<RegionSource> RegionSources(const Graph& graph) {
  Schedule schedule = Partition(graph, kCudaFusion);
  auto escaping = EscapingValues(graph, schedule);
  std::vector<RegionSource> sources;
  for (const Region& region : schedule.regions) {
    CompiledRegion compiled = CompileRegion(region, escaping);
    std::vector<bool> by_value;
    for (const auto& in : compiled.inputs) by_value.push_back(&in.node->kind() == &ScalarParam::kind);
    CudaSource source = RenderCuda(compiled.program, by_value);
    sources.push_back({std::move(source), region, std::move(compiled)});
  }
  return sources;
}

}  // namespace lazyplus
