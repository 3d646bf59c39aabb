#include "backend/scheduled_lowering.h"

#include "support/metrics.h"

namespace lazyplus {

std::vector<std::vector<const Node*>> ScheduledLowering::Regions(const Graph& graph) const {
  std::vector<std::vector<const Node*>> regions;
  for (const Region& r : Partition(graph, policy_).regions) regions.push_back(r.nodes);
  return regions;
}

std::shared_ptr<const Program> ScheduledLowering::Compile(const Graph& graph) const {
  static auto* fused_nodes = metrics::GetCounter("FusedNodes");
  static auto* regions = metrics::GetCounter("FusedRegions");
  Schedule schedule = Partition(graph, policy_);
  auto escaping = EscapingValues(graph, schedule);
  std::vector<StepSpec> steps;
  for (const auto& s : schedule.steps) {
    if (s.node) {
      steps.push_back(NodeStepOf(graph, s.node));
      continue;
    }
    const Region& region = schedule.regions[s.region];
    steps.push_back(RegionStepOf(graph, region, escaping));
    regions->Add();
    fused_nodes->Add(static_cast<int64_t>(region.nodes.size()));
  }
  return std::make_shared<StepProgram>(graph, std::move(steps));
}

}  // namespace lazyplus
