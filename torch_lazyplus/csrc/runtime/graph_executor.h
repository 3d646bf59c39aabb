#pragma once
// Runs pending graphs: hash, look up the compile cache, lower on a miss, run on host parameters.
#include "runtime/graph.h"

namespace lazyplus {

// Computes the values of `roots`; `reason` names the sync point (counted as Sync::<reason>).
std::vector<at::Tensor> ExecuteGraph(std::vector<Value> roots, const std::string& reason);
size_t CompileCacheSize();
void ClearCompileCache();

}  // namespace lazyplus
