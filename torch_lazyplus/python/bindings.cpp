// Python bindings of the lazyplus core, the only file that includes pybind11. It includes torch's
// pybind11 casters rather than torch/extension.h, which would add the whole C++ frontend (a third of
// this file's compile time).
#include <torch/csrc/Generator.h>
#include <torch/csrc/jit/python/pybind_utils.h>
#include <torch/csrc/utils/pybind.h>

#include "aten/fallback.h"
#include "backend/cpu/tile_interpreter.h"
#include "backend/backend.h"
#include "backend/cuda/cuda_regions.h"
#include "backend/cuda/kernel_cache.h"
#include "backend/cuda/launch_config.h"
#include "backend/cuda/nvrtc.h"
#include "device/device.h"
#include "device/generator.h"
#include "distributed/lazyplus_backend.h"
#include "ir/node_factory.h"
#include "library/graph_capture.h"
#include "library/graph_class.h"
#include "runtime/captured_graph.h"
#include "runtime/compile_cache.h"
#include "runtime/explain.h"
#include "source_frames.h"
#include "support/metrics.h"
#include "tensor/dlpack.h"
#include "tensor/lazy_tensor.h"
#include "tensor/pending.h"
#include "tensor/step_recording.h"

namespace {

using lazyplus::CapturedGraph;
using lazyplus::Graph;
using lazyplus::GraphObject;

// The CapturedGraph inside a torch.classes.lazyplus.Graph.
const CapturedGraph& CapturedOf(const py::object& script_object) {
  static auto type = c10::getCustomClassType<c10::intrusive_ptr<GraphObject>>();
  auto ivalue = torch::jit::toIValue(script_object, type);
  return ivalue.toCustomClass<GraphObject>()->captured();
}

Graph GraphOf(const std::vector<at::Tensor>& tensors) {
  std::vector<lazyplus::Value> roots;
  for (const auto& t : tensors) {
    TORCH_CHECK(lazyplus::IsLazy(t), "expected lazyplus tensors, got a tensor on ", t.device());
    roots.push_back(lazyplus::ValueOf(t));
  }
  return lazyplus::BuildGraph(std::move(roots));
}

// One dict per node, for pictures and inspection: text, operands, user line, fused region.
py::list NodeTable(const Graph& graph) {
  std::vector<size_t> region(graph.nodes.size(), SIZE_MAX);
  if (!graph.nodes.empty()) {
    auto regions = lazyplus::BackendFor(lazyplus::CurrentDevice()).lowering().Regions(graph);
    for (size_t r = 0; r < regions.size(); ++r) {
      for (const auto* n : regions[r]) region[graph.position.at(n)] = r;
    }
  }
  py::list table;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const auto* n = graph.nodes[i];
    std::vector<size_t> operands;
    for (const auto& v : n->operands()) operands.push_back(graph.position.at(v.node.get()));
    py::dict row;
    row["text"] = lazyplus::NodeText(graph, i);
    row["op"] = n->op();
    row["operands"] = operands;
    row["parameter"] = n->is_parameter();
    row["source"] = lazyplus::ShortText(n->source());
    row["location"] = lazyplus::FullText(n->source());
    row["region"] = region[i] == SIZE_MAX ? py::object(py::none()) : py::object(py::int_(region[i]));
    table.append(row);
  }
  return table;
}

py::dict AsDict(const lazyplus::explain::Event& e) {
  py::dict d;
  d["kind"] = e.kind;
  d["cause"] = e.cause;
  d["location"] = e.location;
  d["detail"] = e.detail;
  d["graph"] = e.graph;
  return d;
}

py::dict AsDict(const lazyplus::explain::GraphStats& g) {
  py::dict d;
  d["graph"] = g.graph;
  d["nodes"] = g.nodes;
  d["location"] = g.location;
  d["runs"] = g.runs;
  d["compiles"] = g.compiles;
  d["trace_ms"] = g.trace_ns / 1e6;
  d["compile_ms"] = g.compile_ns / 1e6;
  d["execute_ms"] = g.execute_ns / 1e6;
  d["transfer_ms"] = g.transfer_ns / 1e6;
  return d;
}

// A fused region for the CUDA target: its source, and its inputs and outputs as lazy tensors (so
// that tests can compute them and run the region's host twin).
py::dict AsDict(const lazyplus::RegionSource& r, const Graph& graph, c10::Device device) {
  std::unordered_map<const lazyplus::Node*, lazyplus::NodePtr> owner;
  for (const auto& v : graph.roots) owner[v.node.get()] = v.node;
  for (const auto* n : graph.nodes) {
    for (const auto& v : n->operands()) owner[v.node.get()] = v.node;
  }
  auto tensor = [&](const lazyplus::Node* n, size_t index) {
    return lazyplus::MakeLazyTensor(lazyplus::Value{owner.at(n), index}, device);
  };
  py::list inputs, outputs, ops;
  for (const auto& in : r.compiled.inputs) {
    py::dict d;
    d["tensor"] = tensor(in.node, in.index);
    d["sizes"] = in.view.Apply(in.node->shape(in.index).sizes);
    d["materialize"] = in.materialize;
    inputs.append(d);
  }
  for (size_t i = 0; i < r.compiled.outputs.size(); ++i) {
    py::dict d;
    d["tensor"] = tensor(r.compiled.outputs[i].first, r.compiled.outputs[i].second);
    d["per_row"] = r.compiled.program.outputs[i].per_row;
    outputs.append(d);
  }
  for (const auto* n : r.region.nodes) ops.append(n->op());
  py::dict d;
  d["name"] = r.source.name;
  d["text"] = r.source.text;
  d["kernels"] = r.source.kernels;
  d["host_entries"] = r.source.host_entries;
  d["by_value"] = r.source.by_value;
  d["whole_rows"] = r.region.whole_rows;
  d["ops"] = ops;
  d["shape"] = std::vector<int64_t>(r.region.shape.begin(), r.region.shape.end());
  d["split"] = r.compiled.split;
  auto [rows, cols] = lazyplus::Split(r.region.shape, r.compiled.split);
  d["rows"] = rows;
  d["cols"] = cols;
  d["inputs"] = inputs;
  d["outputs"] = outputs;
  return d;
}

template <typename T>
py::list AsList(const std::vector<T>& items) {
  py::list out;
  for (const auto& item : items) out.append(AsDict(item));
  return out;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "torch_lazyplus core bindings";
  m.def("_sync", [](const std::string& reason, int device) {
        auto where = lazyplus::CaptureCallSite();  // needs the GIL
        py::gil_scoped_release no_gil;
        if (device < 0) return lazyplus::SyncAll(reason, where);
        lazyplus::SyncDevice(static_cast<c10::DeviceIndex>(device), reason, where);
      }, py::arg("reason") = "sync", py::arg("device") = -1);
  // Functions that take the recording lock release the GIL first: a thread holding that lock may be
  // waiting for the GIL (source capture).
  m.def("_num_pending", &lazyplus::NumPendingStorages, py::call_guard<py::gil_scoped_release>());
  m.def("_publish_for_dlpack", &lazyplus::PublishForDLPack, py::call_guard<py::gil_scoped_release>());
  m.def("_adopt_dlpack_import", [](const at::Tensor& t) { return lazyplus::AdoptPublishedStorage(t, true); });
  m.def("_ir_text", [](const std::vector<at::Tensor>& tensors, bool sources) {
    return lazyplus::GraphText(GraphOf(tensors), sources);
  }, py::call_guard<py::gil_scoped_release>());
  m.def("_graph_nodes", [](const std::vector<at::Tensor>& tensors) {
    Graph graph = [&] {  // the recording lock, taken without the GIL (as _ir_text)
      py::gil_scoped_release no_gil;
      return GraphOf(tensors);
    }();
    return NodeTable(graph);
  });
  m.def("_graph_hash", [](const std::vector<at::Tensor>& tensors) { return GraphOf(tensors).hash; },
        py::call_guard<py::gil_scoped_release>());
  m.def("_pending_ir_text", [](bool sources) {
    return lazyplus::GraphText(lazyplus::BuildGraph(lazyplus::PendingValues()), sources);
  }, py::call_guard<py::gil_scoped_release>());
  m.def("_install_source_capture", &lazyplus::InstallPythonSourceCapture);
  m.def("_set_source_capture", &lazyplus::SetSourceCaptureEnabled);
  m.def("_source_capture_enabled", &lazyplus::SourceCaptureEnabled);
  m.def("_explain_events", [] { return AsList(lazyplus::explain::Events()); });
  m.def("_explain_graphs", [] { return AsList(lazyplus::explain::Graphs()); });
  m.def("_explain_clear", &lazyplus::explain::Clear);
  m.def("_set_explain_printing", &lazyplus::explain::SetPrinting);
  m.def("_set_max_graphs_per_site", &lazyplus::explain::SetMaxGraphsPerSite);
  py::class_<lazyplus::GraphCapture>(m, "_GraphCapture")
      .def(py::init<const std::vector<at::Tensor>&>())
      .def("finish", [](const lazyplus::GraphCapture& capture, const std::vector<at::Tensor>& outputs) {
        return torch::jit::toPyObject(c10::IValue(capture.Finish(outputs)));
      });
  py::class_<lazyplus::StepRecording>(m, "_StepRecording")
      .def(py::init<c10::DeviceIndex, bool>(), py::call_guard<py::gil_scoped_release>())
      .def("finish", [](lazyplus::StepRecording& recording, const std::vector<at::Tensor>& args,
                        const std::vector<at::Tensor>& outputs) {
        auto where = lazyplus::CaptureCallSite();  // needs the GIL
        py::gil_scoped_release no_gil;
        return recording.Finish(args, outputs, where);
      });
  py::class_<lazyplus::RecordedStep, std::shared_ptr<lazyplus::RecordedStep>>(m, "_RecordedStep")
      .def_property_readonly("unreplayable", &lazyplus::RecordedStep::unreplayable)
      .def("difference", &lazyplus::RecordedStep::Difference)
      .def("replay", &lazyplus::RecordedStep::Replay, py::call_guard<py::gil_scoped_release>());
  m.def("_captured_text", [](const py::object& g, bool sources) {
    return lazyplus::GraphText(CapturedOf(g).graph(), sources);
  });
  m.def("_captured_nodes", [](const py::object& g) { return NodeTable(CapturedOf(g).graph()); });
  m.def("_counters", &lazyplus::metrics::Snapshot);
  m.def("_reset_counters", &lazyplus::metrics::Reset);
  m.def("_compile_cache_size", &lazyplus::CompileCacheSize);
  m.def("_clear_compile_cache", &lazyplus::ClearCompileCache);
  m.def("_set_strict", &lazyplus::SetStrict);
  m.def("_is_strict", &lazyplus::IsStrict);
  m.def("_reset_fallback_warnings", &lazyplus::ResetFallbackWarnings);
  m.def("_set_lowering", &lazyplus::SetLowering);
  m.def("_lowering", [] { return lazyplus::ActiveLowering().name(); });
  m.def("_target", &lazyplus::Target);
  // torch.distributed's "lazyplus" backend over a gloo backend of the same group (_distributed.py).
  m.def("_lazyplus_backend", [](const c10::intrusive_ptr<c10d::Backend>& gloo) -> c10::intrusive_ptr<c10d::Backend> {
    return c10::make_intrusive<lazyplus::LazyplusBackend>(gloo);
  });
  m.def("_set_async", &lazyplus::SetAsyncExecution);
  m.def("_async", &lazyplus::AsyncExecution);
  m.def("_wait", [](int device) {  // for the programs launched on a device (-1: every device)
        for (c10::DeviceIndex d = 0; d < lazyplus::DeviceCount(); ++d) {
          if (device < 0 || d == device) lazyplus::BackendFor(d).Synchronize();
        }
      }, py::arg("device") = -1, py::call_guard<py::gil_scoped_release>());
  m.def("_node_kinds", &lazyplus::KindNames);
  m.def("_tile_isa", [] { return std::string(lazyplus::TileIsa()); });
  m.def("_cuda_sources", [](const std::vector<at::Tensor>& tensors) {
    Graph graph = GraphOf(tensors);
    py::list regions;
    for (const auto& r : lazyplus::RegionSources(graph)) regions.append(AsDict(r, graph, tensors.at(0).device()));
    return regions;
  });
  m.def("_set_nvrtc_folder", &lazyplus::SetNvrtcFolder);
  m.def("_cuda_cubin", [](const std::string& name, const std::string& text, int arch, const std::string& region) {
    std::shared_ptr<const std::string> cubin;
    {
      py::gil_scoped_release compiling;
      cubin = lazyplus::CubinFor(lazyplus::CudaSource{name, text, {}, {}, {}}, arch, region);
    }
    return py::bytes(*cubin);
  });
  m.def("_compile_in_background", [](const std::string& name, const std::string& text, int arch,
                                     const std::string& region) {
    lazyplus::CompileInBackground(lazyplus::CudaSource{name, text, {}, {}, {}}, region, arch);
  });
  m.def("_clear_kernel_memory_cache", &lazyplus::ClearKernelMemoryCache);
  m.def("_configure_launch", [](bool whole_rows, int64_t rows, int64_t cols, bool aligned, int multiprocessors) {
    auto c = lazyplus::ConfigureLaunch(whole_rows, rows, cols, aligned, multiprocessors);
    return py::make_tuple(c.variant, c.blocks, c.threads);
  });
  m.def("_kernel_cache_folder", &lazyplus::KernelCacheFolder);
  m.def("_nvrtc_available", [] {
    std::string why;
    bool ok = lazyplus::NvrtcAvailable(&why);
    return py::make_tuple(ok, why);
  });
  m.def("_nvrtc_version", &lazyplus::NvrtcVersion);
  m.def("_nvrtc_compile", [](const std::string& source, const std::string& name, int arch) {
    lazyplus::CompiledKernel k;
    {
      py::gil_scoped_release compiling;  // 50-200 ms
      k = lazyplus::CompileCuda(source, name, arch);
    }
    py::dict d;
    d["ok"] = k.ok;
    d["log"] = k.log;
    d["cubin"] = py::bytes(k.binary);
    return d;
  });
  m.def("_device_count", [] { return static_cast<int>(lazyplus::DeviceCount()); });
  m.def("_current_device", [] { return static_cast<int>(lazyplus::CurrentDevice()); });
  m.def("_set_device", [](int index) { lazyplus::SetCurrentDevice(static_cast<c10::DeviceIndex>(index)); });
  m.def("_default_generator", [](int index) {
    return py::reinterpret_steal<py::object>(
        THPGenerator_initDefaultGenerator(lazyplus::DefaultGenerator(static_cast<c10::DeviceIndex>(index))));
  });
}
