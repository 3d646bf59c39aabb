#include "backend/cpu/own_kernel_step.h"

#include <ATen/record_function.h>

#include "backend/cpu/profiled_inputs.h"
#include "support/metrics.h"

namespace lazyplus {

StepSpec OwnKernelStep(const Graph& graph, const Node* node, OwnKernel kernel, const char* counter) {
  StepSpec step = NodeStep(graph, node);  // the operands, results and ATen's kernel
  size_t position = graph.position.at(node);
  auto* calls = metrics::GetCounter(counter);
  // torch.profiler shows the run as "lazyplus::" and the counter's name without "Calls".
  std::string range = "lazyplus::" + std::string(counter).substr(0, std::string(counter).rfind("Calls"));
  step.kernel = [position, kernel, calls, range, aten = std::move(step.kernel)](const std::vector<at::Tensor>& in,
                                                                               const StepRun& run) {
    RECORD_FUNCTION(range, ProfiledInputs(in));
    std::optional<std::vector<at::Tensor>> ours = kernel(*run.graph.nodes[position], in);
    if (!ours) return aten(in, run);
    calls->Add(1);
    return *std::move(ours);
  };
  return step;
}

}  // namespace lazyplus
