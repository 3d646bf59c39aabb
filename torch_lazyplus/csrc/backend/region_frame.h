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

// The order a region's kernel visits its elements in: the domain's row-major order, or a permutation of
// it (see RegionFrame::Visiting).
struct Visit {
  c10::DimVector domain;  // the region's sizes
  c10::DimVector order;   // its dims in visiting order; empty for row-major
  c10::DimVector shape;   // its sizes in visiting order: the kernel's rows and cols
};

class RegionFrame {
 public:
  RegionFrame(const Graph& graph, const Region& region, const CompiledRegion& compiled);
  // The region's shape in the graph being run, and the order to visit it in: the memory order of its
  // full-size inputs where they share one and every element is computed on its own (no row
  // reductions, no inputs broadcast along rows or cols), so that channels-last activations and
  // transposed matrices are read in place and the results have their layout, as eager's; else
  // row-major. (Row-major, a channels-last ResNet step copied each activation in and out of every
  // region, and batch norm's backward, given mixed layouts, took its strided path: 1.9 ms a call
  // against 0.2-0.5.)
  Visit Visiting(const Graph& run, const std::vector<at::Tensor>& inputs) const;
  // Input `i` as a kernel reads it: contiguous in visiting order, and expanded to the domain if its
  // broadcast has no tile form.
  at::Tensor KernelInput(size_t i, const at::Tensor& value, const Visit& visit) const;
  // Memory for the outputs, in the domain's order and contiguous in visiting order from their data
  // pointers: an input the step may overwrite where one fits (an in-place update, such as an
  // optimizer's, writes the new value over the old one, as eager does), else `fresh(shape)`.
  std::vector<at::Tensor> Outputs(const std::vector<at::Tensor>& inputs, const StepRun& run, const Visit& visit,
                                  const std::function<at::Tensor(const Shape&)>& fresh) const;
  size_t split() const { return split_; }

 private:
  size_t split_;
  size_t domain_node_;        // position of the node whose shape (or operand 0's) is the region's
  bool domain_from_operand_;  // a reduction opened the region: its operand spans it
  bool any_order_;            // every element is computed on its own: any visiting order gives the same
  std::vector<std::optional<ViewRecipe>> expand_inputs_;
  std::vector<bool> full_size_;     // read element for element, not expanded
  std::vector<bool> overwritable_;  // full size and read once: may hold an output instead
  std::vector<std::pair<size_t, size_t>> outputs_;  // position, output index

  using Indices = c10::SmallVector<size_t, 8>;
  c10::IntArrayRef Domain(const Graph& run) const;
  c10::DimVector MemoryOrder(const std::vector<at::Tensor>& inputs, c10::IntArrayRef domain) const;
  Indices Donors(const std::vector<at::Tensor>& inputs, const std::vector<bool>& reusable, c10::IntArrayRef order) const;
};

// A step reading the compiled region's inputs and writing its outputs; its kernel is the target's.
StepSpec RegionStepSpec(const CompiledRegion& compiled);

}  // namespace lazyplus
