#pragma once
// A program that runs a list of steps over value slots: each step is a host kernel that reads some
// graph values and writes others. Both CPU lowerings build one: the reference lowering has a step per
// node, the fused lowering a step per region. Slots are released after their last use. A step that
// raises fails the values it computes, and every step reading a failed value fails the same way,
// without running: the other values of the program are computed all the same.
#include <exception>

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
};

// A graph value as a step program has it: host memory, or the error that left it uncomputed.
struct HostValue {
  at::Tensor tensor;
  std::exception_ptr error;
};

class StepProgram final : public Program {
 public:
  StepProgram(const Graph& graph, std::vector<StepSpec> steps);
  // Computes the roots of `graph` from its parameters' values, in graph order. A parameter marked
  // `donatable` may be overwritten once no step reads it any more.
  std::vector<HostValue> Run(const Graph& graph, std::vector<HostValue> params,
                             const std::vector<bool>& donatable) const;

 private:
  struct Step {
    StepKernel kernel;
    std::vector<size_t> inputs, outputs, release;  // slots; release: dead after this step
  };
  size_t num_slots_ = 0;
  std::vector<size_t> param_slots_;
  std::vector<Step> steps_;
  std::vector<size_t> root_slots_;
};

// A step that runs the host kernel of the node at `node`'s position in the graph being run. An error
// it raises names the op and the user's line that recorded it.
StepSpec NodeStep(const Graph& graph, const Node* node);

}  // namespace lazyplus
