// Python bindings of the lazyplus core: the only file that includes torch/extension.h.
#include <torch/csrc/Generator.h>
#include <torch/extension.h>

#include "device/device.h"
#include "device/generator.h"
#include "lowering/lowering.h"
#include "lowering/tile_program.h"
#include "runtime/graph_executor.h"
#include "runtime/metrics.h"
#include "tensor/fallback.h"
#include "tensor/lazy_tensor.h"

namespace {

lazyplus::Graph GraphOf(const std::vector<at::Tensor>& tensors) {
  std::vector<lazyplus::Value> roots;
  for (const auto& t : tensors) {
    TORCH_CHECK(lazyplus::IsLazy(t), "expected lazyplus tensors, got a tensor on ", t.device());
    roots.push_back(lazyplus::ValueOf(t));
  }
  return lazyplus::BuildGraph(std::move(roots));
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "torch_lazyplus core bindings";
  m.def("_sync", [](const std::string& reason) { lazyplus::SyncAll(reason); }, py::arg("reason") = "sync",
        py::call_guard<py::gil_scoped_release>());
  m.def("_num_pending", &lazyplus::NumPendingStorages);
  m.def("_ir_text", [](const std::vector<at::Tensor>& tensors) { return lazyplus::GraphText(GraphOf(tensors)); });
  m.def("_graph_hash", [](const std::vector<at::Tensor>& tensors) { return GraphOf(tensors).hash; });
  m.def("_pending_ir_text", [] { return lazyplus::GraphText(lazyplus::BuildGraph(lazyplus::PendingValues())); });
  m.def("_counters", &lazyplus::metrics::Snapshot);
  m.def("_reset_counters", &lazyplus::metrics::Reset);
  m.def("_compile_cache_size", &lazyplus::CompileCacheSize);
  m.def("_clear_compile_cache", &lazyplus::ClearCompileCache);
  m.def("_set_strict", &lazyplus::SetStrict);
  m.def("_is_strict", &lazyplus::IsStrict);
  m.def("_reset_fallback_warnings", &lazyplus::ResetFallbackWarnings);
  m.def("_set_lowering", &lazyplus::SetLowering);
  m.def("_lowering", [] { return lazyplus::ActiveLowering().name(); });
  m.def("_tile_isa", [] { return std::string(lazyplus::TileIsa()); });
  m.def("_device_count", [] { return static_cast<int>(lazyplus::DeviceCount()); });
  m.def("_current_device", [] { return static_cast<int>(lazyplus::CurrentDevice()); });
  m.def("_set_device", [](int index) { lazyplus::SetCurrentDevice(static_cast<c10::DeviceIndex>(index)); });
  m.def("_default_generator", [](int index) {
    return py::reinterpret_steal<py::object>(
        THPGenerator_initDefaultGenerator(lazyplus::DefaultGenerator(static_cast<c10::DeviceIndex>(index))));
  });
}
