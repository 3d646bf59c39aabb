#pragma once
// A lowering that runs a graph's schedule (schedule/partition.h): one step per fused region, one per
// other node. Targets differ in their fusion policy and in the steps they make of regions and nodes.
#include <set>

#include "backend/lowering.h"
#include "backend/step_program.h"
#include "schedule/partition.h"

namespace lazyplus {

class ScheduledLowering : public Lowering {
 public:
  explicit ScheduledLowering(const FusionPolicy& policy) : policy_(policy) {}
  hash_t KeyOf(const Graph& graph) const override { return PartitionKey(graph, policy_); }
  std::vector<std::vector<const Node*>> Regions(const Graph& graph) const override;
  std::shared_ptr<const Program> Compile(const Graph& graph) const override;

 protected:
  virtual StepSpec NodeStepOf(const Graph& graph, const Node* node) const = 0;
  // `escaping`: the graph's values read outside the step computing them (a region's outputs).
  virtual StepSpec RegionStepOf(const Graph& graph, const Region& region,
                                const std::set<TileBuilder::ValueKey>& escaping) const = 0;

 private:
  const FusionPolicy& policy_;
};

}  // namespace lazyplus
