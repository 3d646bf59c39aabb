#include "runtime/compile_cache.h"

#include <mutex>
#include <unordered_map>

#include "runtime/explain.h"
#include "support/metrics.h"

namespace lazyplus {
namespace {

constexpr size_t kMaxCachedPrograms = 4096;

std::mutex cache_mutex;
std::unordered_map<hash_t, std::shared_ptr<const Program>>& Cache() {
  static auto* cache = new std::unordered_map<hash_t, std::shared_ptr<const Program>>();
  return *cache;
}

}  // namespace

hash_t ProgramKey(const Graph& graph, const Backend& backend, const Lowering& lowering) {
  hash_t target = HashCombine(Hash(backend.name()), Hash(lowering.name()));
  return HashCombine(HashCombine(graph.hash, target), lowering.KeyOf(graph));
}

std::shared_ptr<const Program> FindProgram(hash_t key) {
  static auto* cached = metrics::GetCounter("CachedCompile");
  std::lock_guard<std::mutex> lock(cache_mutex);
  auto it = Cache().find(key);
  if (it == Cache().end()) return nullptr;
  cached->Add();
  return it->second;
}

std::shared_ptr<const Program> CompileProgram(const Graph& graph, const Lowering& lowering, hash_t key,
                                              const CapturedSource& where) {
  static auto* uncached = metrics::GetCounter("UncachedCompile");
  uncached->Add();
  explain::OnCompile(graph, where);
  auto program = lowering.Compile(graph);
  std::lock_guard<std::mutex> lock(cache_mutex);
  if (Cache().size() >= kMaxCachedPrograms) Cache().clear();
  Cache()[key] = program;
  return program;
}

size_t CompileCacheSize() {
  std::lock_guard<std::mutex> lock(cache_mutex);
  return Cache().size();
}

void ClearCompileCache() {
  std::lock_guard<std::mutex> lock(cache_mutex);
  Cache().clear();
}

}  // namespace lazyplus
