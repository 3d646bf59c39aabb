#pragma once
// Runs pending graphs: hash, look up the compile cache, lower on a miss, launch on the device's
// backend.
#include "backend/backend.h"
#include "ir/graph.h"
#include "ir/source.h"

namespace lazyplus {

// A launched graph: its outputs in flight, and the graph (to launch again, see RelaunchGraph).
struct GraphLaunch {
  std::shared_ptr<Graph> graph;
  Launched launched;
};

// Launches the computation of `roots` on `device`; `reason` names the sync point (counted as
// Sync::<reason>). `replaced`: buffers whose storages take these results, so a graph input held there
// may be overwritten once nothing reads it any more (an in-place update of a parameter). `where`: the
// user's line that caused the sync (for the explainer).
GraphLaunch ExecuteGraph(c10::DeviceIndex device, std::vector<Value> roots, const std::string& reason,
                         const std::vector<const Buffer*>& replaced = {}, const CapturedSource& where = {});
// Launches a graph ExecuteGraph built before on new `inputs` (as GraphInputs): its program comes from
// the compile cache, nothing is traced. `replaced` and `reason` as ExecuteGraph's.
Launched RelaunchGraph(c10::DeviceIndex device, const std::shared_ptr<Graph>& graph, std::vector<BufferPtr> inputs,
                       const std::vector<const Buffer*>& replaced, const std::string& reason);
// The buffers of the graph's parameters, in graph order (null for a host number).
std::vector<BufferPtr> GraphInputs(const Graph& graph);
// Runs `graph` on `inputs` (as GraphInputs) through the compile cache and waits for the values of its
// roots, on the host; not a sync: nothing pending is touched.
std::vector<at::Tensor> RunGraph(std::shared_ptr<Graph> graph, std::vector<BufferPtr> inputs);

}  // namespace lazyplus
