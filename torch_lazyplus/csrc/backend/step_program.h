#pragma once
// A program that runs a list of steps over value slots: each step is a kernel called on the host
// (an ATen call, a tile program, a CUDA kernel launch) that reads some graph values and writes others.
// Every lowering builds one: the reference lowering has a step per node, the fused and CUDA lowerings
// a step per region. Slots are released after their last use. A step that
// raises fails the values it computes, and every step reading a failed value fails the same way,
// without running: the other values of the program are computed all the same.
#include <exception>

#include "backend/lowering.h"
#include "device/buffer.h"

namespace lazyplus {

// One output of a graph node.
struct ValueRef {
  const Node* node;
  size_t index;
};
inline ValueRef Ref(const Value& v) { return {v.node.get(), v.index}; }

// What a step's kernel gets besides its inputs: the graph being run, to read its current sizes; the
// device whose memory holds the program's values (the CPU, or a GPU); which inputs it may overwrite
// (donated memory that nothing reads after this step).
struct StepRun {
  const Graph& graph;
  c10::Device memory;
  const std::vector<bool>& reusable;
};
using StepKernel = std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>& inputs, const StepRun& run)>;

struct StepSpec {
  StepKernel kernel;
  std::vector<ValueRef> inputs;
  std::vector<ValueRef> outputs;  // in the order the kernel returns them
};

// A graph value as a step program has it: memory, or the error that left it uncomputed.
struct StepValue {
  at::Tensor tensor;
  std::exception_ptr error;
};

class StepProgram final : public Program {
 public:
  StepProgram(const Graph& graph, std::vector<StepSpec> steps);
  // Computes the roots of `graph` from its parameters' values (in `memory`), in graph order. A
  // parameter marked `donatable` may be overwritten once no step reads it any more.
  std::vector<StepValue> Run(const Graph& graph, c10::Device memory, std::vector<StepValue> params,
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

// Runs `program` on the graph's parameters (Backend::Launch's `inputs`: buffers whose memory is on
// `memory`, null for a host number the graph holds) and fills `outputs`, one per root, with memory of
// their own or the error that left them uncomputed. Never throws.
void RunAndFill(const StepProgram& program, const Graph& graph, c10::Device memory,
                const std::vector<BufferPtr>& inputs, const std::vector<bool>& donatable,
                const std::vector<BufferPtr>& outputs);

// The memory of `contiguous` as a contiguous tensor of `sizes` (as many elements), made without the
// dispatcher: a step program makes hundreds (the demo's: 258 per step), and aten::view cost 0.3 us each.
at::Tensor ContiguousAlias(const at::Tensor& contiguous, c10::IntArrayRef sizes);

// A step that runs the host kernel of the node at `node`'s position in the graph being run. An error
// it raises names the op and the user's line that recorded it.
StepSpec NodeStep(const Graph& graph, const Node* node);

}  // namespace lazyplus
