#pragma once
// Partitions a graph into the steps of a fused program (the schedule): regions of pointwise and
// last-dim reduction nodes that run as one tile program, and single nodes that run their ATen kernel.
#include <cstdint>
#include "schedule/tile_builder.h"

namespace lazyplus {

struct Schedule {
  static constexpr size_t kNoRegion = SIZE_MAX;
  struct Step {
    size_t region = kNoRegion;  // index into regions, or kNoRegion for a single node
    const Node* node = nullptr;
  };
  std::vector<Region> regions;
  std::vector<Step> steps;  // in run order
};

// What a target decides about fusion.
struct FusionPolicy {
  int64_t max_row;  // the longest row one whole-row tile holds
  // A node that, fused with nothing, runs its ATen kernel rather than a one-node tile program.
  bool (*aten_when_alone)(const Node&) = nullptr;
  size_t max_nodes = SIZE_MAX;  // a region holding this many takes no more
  bool (*never_fused)(const Node&) = nullptr;  // a node that runs a kernel of its own, in no region
};

Schedule Partition(const Graph& graph, const FusionPolicy& policy);
// What Partition's decisions depend on beyond the graph's hash: which size classes are too long for
// a whole-row tile.
hash_t PartitionKey(const Graph& graph, const FusionPolicy& policy);

// The values of `graph` read outside the step that computes them, and its roots: a region's outputs.
std::set<TileBuilder::ValueKey> EscapingValues(const Graph& graph, const Schedule& schedule);

}  // namespace lazyplus
