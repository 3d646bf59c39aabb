#pragma once
// A captured lazy graph: the computation of some outputs from some inputs (torch_lazyplus.trace),
// runnable any number of times on new input values through the compile cache. Everything else the
// traced function read (weights, scalars) is captured by value when it was traced.
#include <optional>

#include "runtime/graph.h"

namespace lazyplus {

class CapturedGraph {
 public:
  // `input_nodes[i]`: the graph input holding input i's elements (flat), whose shape as the function
  // saw it is `input_shapes[i]`.
  CapturedGraph(std::vector<Value> outputs, const std::vector<const Node*>& input_nodes,
                std::vector<Shape> input_shapes);

  // The outputs for new input values (host tensors of the traced dtypes and sizes), as host tensors.
  std::vector<at::Tensor> Run(const std::vector<at::Tensor>& inputs) const;
  const Graph& graph() const { return graph_; }
  const std::vector<Shape>& input_shapes() const { return input_shapes_; }

 private:
  Graph graph_;
  std::vector<std::optional<size_t>> input_params_;  // position among graph_.parameters; none if unused
  std::vector<Shape> input_shapes_;
};

}  // namespace lazyplus
