#include "backend/cuda/cuda_lowering.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/empty.h>
#include <ATen/record_function.h>
#include <torch/library.h>

#include "backend/cuda/cuda_regions.h"
#include "backend/cuda/kernel_cache.h"
#include "backend/region_frame.h"
#include "backend/scheduled_lowering.h"
#include "backend/step_program.h"

namespace lazyplus {
namespace {

const c10::OperatorHandle& RunCudaRegionOp() {
  static const c10::OperatorHandle op =
      c10::Dispatcher::singleton().findSchemaOrThrow("lazyplus::run_cuda_region", "");
  return op;
}

// A region step: its kernel, launched on the program's device with the sizes of the graph being run.
struct CudaRegionKernel {
  CudaSource source;
  RegionFrame frame;
  std::string what;  // the region's ops, for errors
  bool whole_rows;

  std::vector<at::Tensor> operator()(const std::vector<at::Tensor>& inputs, const StepRun& run) const {
    RECORD_FUNCTION("lazyplus::fused_region", c10::ArrayRef<const c10::IValue>{});
    Visit visit = frame.Visiting(run.graph, inputs);
    c10::List<at::Tensor> in, out;
    for (size_t i = 0; i < inputs.size(); ++i) {
      in.push_back(source.by_value[i] ? inputs[i] : frame.KernelInput(i, inputs[i], visit));
    }
    std::vector<at::Tensor> results = frame.Outputs(inputs, run, visit, [&](const Shape& s) {
      return at::empty(s.sizes, at::TensorOptions(s.dtype).device(run.memory));
    });
    for (const auto& t : results) out.push_back(visit.order.empty() ? t : t.permute(visit.order));
    auto [rows, cols] = Split(visit.shape, frame.split());
    c10::List<bool> by_value;
    for (bool b : source.by_value) by_value.push_back(b);
    // Boxed: the op's kernels are the GPU library's (C++) and the tests' (Python).
    torch::jit::Stack stack{source.name, source.text, c10::List<std::string>(source.kernels), by_value, what,
                            whole_rows, rows, cols, in, out};
    RunCudaRegionOp().callBoxed(stack);
    return results;
  }
};

// A node's ATen kernel; a factory's result (ATen makes it on the CPU: the recorded device is
// lazyplus) moves to the program's device.
StepSpec DeviceNodeStep(const Graph& graph, const Node* node) {
  StepSpec step = NodeStep(graph, node);
  step.kernel = [kernel = std::move(step.kernel)](const std::vector<at::Tensor>& in, const StepRun& run) {
    std::vector<at::Tensor> out = kernel(in, run);
    for (auto& t : out) {
      if (t.defined() && t.device() != run.memory) t = t.to(run.memory);
    }
    return out;
  };
  return step;
}

class Cuda final : public ScheduledLowering {
 public:
  Cuda() : ScheduledLowering(kCudaFusion) {}
  std::string name() const override { return "cuda"; }

 protected:
  StepSpec NodeStepOf(const Graph& graph, const Node* node) const override { return DeviceNodeStep(graph, node); }
  StepSpec RegionStepOf(const Graph& graph, const Region& region,
                        const std::set<TileBuilder::ValueKey>& escaping) const override {
    RegionSource r = SourceOf(region, escaping);
    std::string what = Describe(region);
    PrefetchKernel(r.source, what);
    StepSpec step = RegionStepSpec(r.compiled);
    step.kernel = CudaRegionKernel{std::move(r.source), RegionFrame(graph, region, r.compiled), std::move(what),
                                   region.whole_rows};
    return step;
  }
};

}  // namespace

const Lowering& CudaLowering() {
  static Cuda cuda;
  return cuda;
}

// Defined here, where it is called; its kernels are registered where they run.
TORCH_LIBRARY_FRAGMENT(lazyplus, m) {
  m.def("run_cuda_region(str name, str text, str[] kernels, bool[] by_value, str region, bool whole_rows, "
        "int rows, int cols, Tensor[] inputs, Tensor(a!)[] outputs) -> ()");
}

}  // namespace lazyplus
