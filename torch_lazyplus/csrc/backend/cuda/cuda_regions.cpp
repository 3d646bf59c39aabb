#include "backend/cuda/cuda_regions.h"

#include "ir/core_nodes.h"

namespace lazyplus {

RegionSource SourceOf(const Region& region, const std::set<TileBuilder::ValueKey>& escaping) {
  CompiledRegion compiled = CompileRegion(region, escaping);
  std::vector<bool> by_value;
  for (const auto& in : compiled.inputs) by_value.push_back(&in.node->kind() == &ScalarParam::kind);
  CudaSource source = RenderCuda(compiled.program, by_value);
  return {std::move(source), region, std::move(compiled)};
}

std::vector<RegionSource> RegionSources(const Graph& graph) {
  Schedule schedule = Partition(graph, kCudaFusion);
  auto escaping = EscapingValues(graph, schedule);
  std::vector<RegionSource> sources;
  for (const Region& region : schedule.regions) sources.push_back(SourceOf(region, escaping));
  return sources;
}

std::string Describe(const Region& region) {
  std::string ops;
  for (const Node* n : region.nodes) ops += (ops.empty() ? "" : " ") + n->op();
  return ops;
}

}  // namespace lazyplus
