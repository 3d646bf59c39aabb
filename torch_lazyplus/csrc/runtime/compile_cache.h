#pragma once
// Programs compiled for graphs, kept by key: a graph's structural hash, the backend and its lowering,
// and what the lowering's decisions depend on beyond the hash. All at once is evicted when it holds
// 4096.
#include <memory>

#include "backend/backend.h"
#include "ir/source.h"

namespace lazyplus {

// A sync reads the active lowering once and passes it to both: a switch on another thread in between
// must not cache one lowering's program under the other's key.
hash_t ProgramKey(const Graph& graph, const Backend& backend, const Lowering& lowering);
// The cached program under `key`, or null.
std::shared_ptr<const Program> FindProgram(hash_t key);
// Compiles `graph` (its positions indexed) with `lowering` and caches the program under `key`.
std::shared_ptr<const Program> CompileProgram(const Graph& graph, const Lowering& lowering, hash_t key,
                                              const CapturedSource& where);
size_t CompileCacheSize();
void ClearCompileCache();

}  // namespace lazyplus
