#include "runtime/graph_executor.h"

#include <mutex>
#include <unordered_map>

#include "lowering/lowering.h"
#include "runtime/metrics.h"

namespace lazyplus {
namespace {

constexpr size_t kMaxCachedPrograms = 4096;

std::mutex cache_mutex;
std::unordered_map<hash_t, std::shared_ptr<const Program>>& Cache() {
  static auto* cache = new std::unordered_map<hash_t, std::shared_ptr<const Program>>();
  return *cache;
}

std::shared_ptr<const Program> GetProgram(const Graph& graph) {
  const Lowering& lowering = ActiveLowering();
  hash_t key = HashCombine(HashCombine(graph.hash, Hash(lowering.name())), lowering.KeyOf(graph));
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto it = Cache().find(key);
    if (it != Cache().end()) {
      static auto* cached = metrics::GetCounter("CachedCompile");
      cached->Add();
      return it->second;
    }
  }
  static auto* uncached = metrics::GetCounter("UncachedCompile");
  uncached->Add();
  auto program = lowering.Compile(graph);
  std::lock_guard<std::mutex> lock(cache_mutex);
  if (Cache().size() >= kMaxCachedPrograms) Cache().clear();
  Cache()[key] = program;
  return program;
}

// Parameters that live alone in replaced memory.
std::vector<bool> Donatable(const std::vector<at::Tensor>& params, const std::vector<const void*>& replaced) {
  std::unordered_map<const void*, int> sharing;  // replaced memory -> parameters living there
  for (const void* memory : replaced) {
    if (memory) sharing.emplace(memory, 0);
  }
  std::vector<bool> donatable(params.size());
  if (sharing.empty()) return donatable;
  for (const auto& p : params) {
    auto it = sharing.find(p.storage().data_ptr().get());
    if (it != sharing.end()) it->second++;
  }
  for (size_t j = 0; j < params.size(); ++j) {
    auto it = sharing.find(params[j].storage().data_ptr().get());
    donatable[j] = it != sharing.end() && it->second == 1;
  }
  return donatable;
}

}  // namespace

std::vector<at::Tensor> ExecuteGraph(std::vector<Value> roots, const std::string& reason,
                                     const std::vector<const void*>& replaced) {
  static auto* syncs = metrics::GetCounter("Sync");
  syncs->Add();
  metrics::GetCounter("Sync::" + reason)->Add();
  Graph graph = BuildGraph(std::move(roots));
  auto program = GetProgram(graph);
  std::vector<at::Tensor> params;
  params.reserve(graph.parameters.size());
  for (const Parameter* p : graph.parameters) params.push_back(p->host_value());
  return program->Run(graph, params, Donatable(params, replaced));
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
