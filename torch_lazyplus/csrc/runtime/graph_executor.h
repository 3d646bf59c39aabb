#pragma once
// Runs pending graphs: hash, look up the compile cache, lower on a miss, run on host parameters.
#include "runtime/graph.h"

namespace lazyplus {

// Computes the values of `roots`; `reason` names the sync point (counted as Sync::<reason>).
// `replaced`: host memory whose contents the caller replaces with these results, so a graph input
// living there may be overwritten once nothing reads it any more (an in-place update of a parameter).
std::vector<at::Tensor> ExecuteGraph(std::vector<Value> roots, const std::string& reason,
                                     const std::vector<const void*>& replaced = {});
size_t CompileCacheSize();
void ClearCompileCache();

}  // namespace lazyplus
