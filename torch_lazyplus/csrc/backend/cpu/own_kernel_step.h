#pragma once
// The step of a node that lazyplus runs with a kernel of its own where the run's tensors fit it, else
// with the node's ATen kernel (small attention, batch norm's training forward).
#include <optional>

#include "backend/step_program.h"

namespace lazyplus {

// The node's results, or nullopt where its tensors are not the kernel's to take.
using OwnKernel = std::optional<std::vector<at::Tensor>> (*)(const Node& node, const std::vector<at::Tensor>& in);

// `counter` counts the runs the own kernel took.
StepSpec OwnKernelStep(const Graph& graph, const Node* node, OwnKernel kernel, const char* counter);

}  // namespace lazyplus
