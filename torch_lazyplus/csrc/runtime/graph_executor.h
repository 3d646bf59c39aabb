#pragma once
// Runs pending graphs: hash, look up the compile cache, lower on a miss, run on host parameters.
#include "ir/graph.h"
#include "ir/source.h"

namespace lazyplus {

// Computes the values of `roots`; `reason` names the sync point (counted as Sync::<reason>).
// `replaced`: host memory whose contents the caller replaces with these results, so a graph input
// living there may be overwritten once nothing reads it any more (an in-place update of a parameter).
// `where`: the user's line that caused the sync (for the explainer).
std::vector<at::Tensor> ExecuteGraph(std::vector<Value> roots, const std::string& reason,
                                     const std::vector<const void*>& replaced = {}, const CapturedSource& where = {});
// Host values of the graph's parameters, in graph order.
std::vector<at::Tensor> ParameterValues(const Graph& graph);
// Runs `graph` on `params` (host values of its parameters, in graph order) through the compile cache;
// not a sync: nothing pending is touched.
std::vector<at::Tensor> RunGraph(const Graph& graph, const std::vector<at::Tensor>& params);

}  // namespace lazyplus
