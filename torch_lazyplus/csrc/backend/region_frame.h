#pragma once
// What a fused region's step needs at run time on every target, apart from its kernel: how to read
// the region's sizes from the graph being run (a compiled program holds no sizes and no nodes: it
// runs every graph with its hash), and its inputs as a kernel reads them.
#include <c10/util/SmallVector.h>

#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "backend/step_program.h"
#include "schedule/partition.h"
#include "schedule/tile_builder.h"

namespace lazyplus {

class RegionFrame {
 public:
  RegionFrame(const Graph& graph, const Region& region, const CompiledRegion& compiled);
  // The region's shape in the graph being run.
  c10::IntArrayRef Domain(const Graph& run) const;
  // Input `i` as a kernel reads it: contiguous, and expanded to `domain` if its broadcast has no tile form.
  at::Tensor KernelInput(size_t i, const at::Tensor& value, c10::IntArrayRef domain) const;
  // Memory for the outputs: an input the step may overwrite where one fits (an in-place update, such
  // as an optimizer's, writes the new value over the old one, as eager does), else `fresh(shape)`.
  std::vector<at::Tensor> Outputs(const std::vector<at::Tensor>& inputs, const StepRun& run,
                                  const std::function<at::Tensor(const Shape&)>& fresh) const;
  size_t split() const { return split_; }

 private:
  size_t split_;
  size_t domain_node_;        // position of the node whose shape (or operand 0's) is the region's
  bool domain_from_operand_;  // a reduction opened the region: its operand spans it
  std::vector<std::optional<ViewRecipe>> expand_inputs_;
  std::vector<bool> overwritable_;  // read once, element for element: may hold an output instead
  std::vector<std::pair<size_t, size_t>> outputs_;  // position, output index

  using Indices = c10::SmallVector<size_t, 8>;
  Indices Donors(const std::vector<at::Tensor>& inputs, const std::vector<bool>& reusable) const;
};

// A step reading the compiled region's inputs and writing its outputs; its kernel is the target's.
StepSpec RegionStepSpec(const CompiledRegion& compiled);

}  // namespace lazyplus
