// torch.classes.lazyplus.Metrics: the backend's counters, readable from TorchScript and C++.
#include <torch/custom_class.h>

#include "library/library.h"
#include "runtime/compile_cache.h"
#include "support/metrics.h"

namespace lazyplus {
namespace {

struct MetricsObject final : torch::CustomClassHolder {};
using MetricsPtr = c10::intrusive_ptr<MetricsObject>;

c10::Dict<std::string, int64_t> Counters(const MetricsPtr&) {
  c10::Dict<std::string, int64_t> out;
  for (const auto& [name, value] : metrics::Snapshot()) out.insert(name, value);
  return out;
}

int64_t Counter(const MetricsPtr&, const std::string& name) {
  auto snapshot = metrics::Snapshot();
  auto it = snapshot.find(name);
  return it == snapshot.end() ? 0 : it->second;
}

}  // namespace

void RegisterMetricsClass(torch::Library& m) {
  m.class_<MetricsObject>("Metrics")
      .def(torch::init<>())
      .def("counters", &Counters, "Every counter by name (torch_lazyplus.metrics.counters())")
      .def("counter", &Counter, "One counter, 0 if it never counted")
      .def("reset", [](const MetricsPtr&) { metrics::Reset(); })
      .def("compile_cache_size", [](const MetricsPtr&) { return static_cast<int64_t>(CompileCacheSize()); });
}

}  // namespace lazyplus
