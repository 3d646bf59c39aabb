#include "runtime/graph_executor.h"

#include <c10/core/CPUAllocator.h>

#include <algorithm>
#include <utility>
#include <unordered_map>

#include "backend/lowering.h"
#include "runtime/compile_cache.h"
#include "runtime/explain.h"
#include "support/metrics.h"

namespace lazyplus {
namespace {

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

// Writes `s` as its own type at `slot`; false for a type a host number never has.
bool WriteScalar(const at::Scalar& s, void* slot) {
  switch (s.type()) {
    case at::kDouble: *static_cast<double*>(slot) = s.toDouble(); return true;
    case at::kLong: *static_cast<int64_t*>(slot) = s.toLong(); return true;
    case at::kBool: *static_cast<bool*>(slot) = s.toBool(); return true;
    case at::kComplexDouble: *static_cast<c10::complex<double>*>(slot) = s.toComplexDouble(); return true;
    default: return false;
  }
}

}  // namespace

// Scalars recorded as numbers (every `alpha` of add and sub) share one host buffer, a 0-dim tensor
// each: a tensor of their own apiece (storage, memory, fill) was half the time of running a cached
// graph of small ops.
std::vector<at::Tensor> ParameterValues(const Graph& graph) {
  constexpr size_t kSlotBytes = 16;  // holds and aligns every host scalar type
  size_t scalars = 0;
  for (const Parameter* p : graph.parameters) scalars += p->host_scalar() != nullptr;
  c10::Storage buffer(c10::Storage::use_byte_size_t(), scalars * kSlotBytes, c10::GetCPUAllocator(), false);
  auto* bytes = static_cast<char*>(buffer.mutable_data());
  std::vector<at::Tensor> values;
  values.reserve(graph.parameters.size());
  size_t slot = 0;
  for (const Parameter* p : graph.parameters) {
    const at::Scalar* s = p->host_scalar();
    if (!s || !WriteScalar(*s, bytes + slot * kSlotBytes)) {
      values.push_back(p->host_value());
      continue;
    }
    auto dtype = c10::scalarTypeToTypeMeta(s->type());
    at::Tensor t = at::detail::make_tensor<c10::TensorImpl>(c10::Storage(buffer), c10::DispatchKeySet(c10::DispatchKey::CPU), dtype);
    t.unsafeGetTensorImpl()->set_sizes_contiguous({});
    t.unsafeGetTensorImpl()->set_storage_offset(static_cast<int64_t>(slot++ * kSlotBytes / dtype.itemsize()));
    values.push_back(std::move(t));
  }
  return values;
}

std::vector<at::Tensor> ExecuteGraph(std::vector<Value> roots, const std::string& reason,
                                     const std::vector<const void*>& replaced, const CapturedSource& where) {
  static auto* syncs = metrics::GetCounter("Sync");
  static auto* trace_time = metrics::GetCounter("TraceTimeNs");
  static auto* compile_time = metrics::GetCounter("CompileTimeNs");
  static auto* execute_time = metrics::GetCounter("ExecuteTimeNs");
  syncs->Add();
  metrics::GetCounter("Sync::" + reason)->Add();
  // Trace time: recording the ops since the last sync (all syncs hold SyncAll's lock), plus building
  // the graph.
  static int64_t traced_at_last_sync = 0;
  int64_t traced = trace_time->value.load(std::memory_order_relaxed);
  explain::SyncTimes times;
  times.trace_ns = std::max<int64_t>(0, traced - std::exchange(traced_at_last_sync, traced));
  int64_t start = metrics::NowNs();
  Graph graph = BuildGraph(std::move(roots), /*index_positions=*/false);
  int64_t built = metrics::NowNs();
  const Lowering& lowering = ActiveLowering();
  hash_t key = ProgramKey(graph, lowering);
  auto program = FindProgram(key);
  bool compiled = !program;
  if (compiled) {
    IndexPositions(graph);  // compiling looks nodes up by position; a cached sync never does
    program = CompileProgram(graph, lowering, key, where);
  }
  int64_t lowered = metrics::NowNs();
  std::vector<at::Tensor> params = ParameterValues(graph);
  auto results = program->Run(graph, params, Donatable(params, replaced));
  int64_t end = metrics::NowNs();
  times.trace_ns += built - start;
  times.compile_ns = compiled ? lowered - built : 0;
  times.execute_ns = end - lowered;
  compile_time->Add(times.compile_ns);
  execute_time->Add(times.execute_ns);
  explain::OnSync(reason, where, graph, compiled, times);
  return results;
}

std::vector<at::Tensor> RunGraph(const Graph& graph, const std::vector<at::Tensor>& params) {
  const Lowering& lowering = ActiveLowering();
  hash_t key = ProgramKey(graph, lowering);
  auto program = FindProgram(key);
  if (!program) program = CompileProgram(graph, lowering, key, {});
  return program->Run(graph, params, std::vector<bool>(params.size()));
}

}  // namespace lazyplus
