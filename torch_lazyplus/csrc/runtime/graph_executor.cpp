#include "runtime/graph_executor.h"

#include <algorithm>
#include <utility>
#include <unordered_map>

#include "device/device.h"
#include "ir/core_nodes.h"
#include "runtime/compile_cache.h"
#include "runtime/explain.h"
#include "support/metrics.h"

namespace lazyplus {
namespace {

// Inputs whose buffer is replaced and read by no other input.
std::vector<bool> Donatable(const std::vector<BufferPtr>& inputs, const std::vector<const Buffer*>& replaced) {
  std::unordered_map<const Buffer*, int> sharing;  // replaced buffer -> inputs reading it
  for (const Buffer* b : replaced) {
    if (b) sharing.emplace(b, 0);
  }
  std::vector<bool> donatable(inputs.size());
  if (sharing.empty()) return donatable;
  for (const auto& in : inputs) {
    auto it = sharing.find(in.get());
    if (it != sharing.end()) it->second++;
  }
  for (size_t j = 0; j < inputs.size(); ++j) {
    auto it = sharing.find(inputs[j].get());
    donatable[j] = it != sharing.end() && it->second == 1;
  }
  return donatable;
}

std::shared_ptr<const Program> Compiled(const Backend& backend, Graph& graph, bool& compiled,
                                        const CapturedSource& where) {
  const Lowering& lowering = backend.lowering();  // once: a switch meanwhile must not mix two lowerings
  hash_t key = ProgramKey(graph, backend, lowering);
  auto program = FindProgram(key);
  compiled = !program;
  if (!compiled) return program;
  if (graph.position.empty()) IndexPositions(graph);  // compiling looks nodes up by position; a cached sync never does
  return CompileProgram(graph, lowering, key, where);
}

}  // namespace

std::vector<BufferPtr> GraphInputs(const Graph& graph) {
  std::vector<BufferPtr> inputs;
  inputs.reserve(graph.parameters.size());
  for (const Parameter* p : graph.parameters) {
    inputs.push_back(&p->kind() == &DeviceData::kind ? static_cast<const DeviceData*>(p)->buffer() : nullptr);
  }
  return inputs;
}

namespace {

// Launches `graph` on `inputs` through the compile cache: counts the sync and its times (`build_ns`:
// building the graph, part of tracing) and tells the explainer.
Launched LaunchCounted(c10::DeviceIndex device, const std::shared_ptr<Graph>& graph, std::vector<BufferPtr> inputs,
                       const std::vector<const Buffer*>& replaced, const std::string& reason,
                       const CapturedSource& where, int64_t build_ns) {
  static auto* syncs = metrics::GetCounter("Sync");
  static auto* trace_time = metrics::GetCounter("TraceTimeNs");
  static auto* compile_time = metrics::GetCounter("CompileTimeNs");
  syncs->Add();
  metrics::GetCounter("Sync::" + reason)->Add();
  // Trace time: recording the ops since the last sync (all syncs hold the recording lock), plus
  // building the graph.
  static int64_t traced_at_last_sync = 0;
  int64_t traced = trace_time->value.load(std::memory_order_relaxed);
  explain::SyncTimes times;
  times.trace_ns = std::max<int64_t>(0, traced - std::exchange(traced_at_last_sync, traced)) + build_ns;
  int64_t start = metrics::NowNs();
  const Backend& backend = BackendFor(device);
  bool compiled = false;
  auto program = Compiled(backend, *graph, compiled, where);
  int64_t lowered = metrics::NowNs();
  std::vector<bool> donatable = Donatable(inputs, replaced);
  Launched launched = backend.Launch(std::move(program), graph, std::move(inputs), std::move(donatable));
  int64_t end = metrics::NowNs();
  times.compile_ns = compiled ? lowered - start : 0;
  times.execute_ns = end - lowered;  // the launch: the run itself when execution is synchronous
  compile_time->Add(times.compile_ns);
  explain::OnSync(reason, where, *graph, compiled, times);
  return launched;
}

}  // namespace

GraphLaunch ExecuteGraph(c10::DeviceIndex device, std::vector<Value> roots, const std::string& reason,
                         const std::vector<const Buffer*>& replaced, const CapturedSource& where) {
  int64_t start = metrics::NowNs();
  auto graph = std::make_shared<Graph>(BuildGraph(std::move(roots), /*index_positions=*/false));
  int64_t built = metrics::NowNs();
  Launched launched = LaunchCounted(device, graph, GraphInputs(*graph), replaced, reason, where, built - start);
  return {std::move(graph), std::move(launched)};
}

Launched RelaunchGraph(c10::DeviceIndex device, const std::shared_ptr<Graph>& graph, std::vector<BufferPtr> inputs,
                       const std::vector<const Buffer*>& replaced, const std::string& reason) {
  return LaunchCounted(device, graph, std::move(inputs), replaced, reason, {}, 0);
}

std::vector<at::Tensor> RunGraph(std::shared_ptr<Graph> graph, std::vector<BufferPtr> inputs) {
  const Backend& backend = BackendFor(CurrentDevice());
  bool compiled = false;
  auto program = Compiled(backend, *graph, compiled, {});
  std::vector<bool> donatable(inputs.size());
  Launched launched = backend.Launch(std::move(program), graph, std::move(inputs), std::move(donatable));
  std::vector<at::Tensor> outputs;
  for (size_t i = 0; i < launched.outputs.size(); ++i) {
    outputs.push_back(backend.Download(*launched.outputs[i]).view(graph->roots[i].shape().sizes));
  }
  return outputs;
}

}  // namespace lazyplus
