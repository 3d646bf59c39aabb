#pragma once
// A program that runs a list of steps over value slots: each step is a host kernel that reads some
// graph values and writes others. Both lowerings build one: the reference lowering has a step per
// node, the fused lowering a step per region. Slots are released after their last use.
#include "backend/lowering.h"

namespace lazyplus {

// One output of a graph node.
struct ValueRef {
  const Node* node;
  size_t index;
};
inline ValueRef Ref(const Value& v) { return {v.node.get(), v.index}; }

// A step's kernel gets the graph being run, to read its current sizes, and which inputs it may
// overwrite (donated memory that nothing reads after this step).
using StepKernel = std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>& inputs, const Graph& graph,
                                                         const std::vector<bool>& reusable)>;

struct StepSpec {
  StepKernel kernel;
  std::vector<ValueRef> inputs;
  std::vector<ValueRef> outputs;  // in the order the kernel returns them
  // Can raise on the values it reads (an index out of range, a singular matrix): donated memory is
  // overwritten only after the last such step, so a failed run leaves every input as it was.
  bool may_fail = true;
};

// A step that runs the host kernel of the node at `node`'s position in the graph being run. An error
// it raises names the op and the user's line that recorded it.
StepSpec NodeStep(const Graph& graph, const Node* node);
std::shared_ptr<const Program> MakeStepProgram(const Graph& graph, std::vector<StepSpec> steps);

}  // namespace lazyplus
