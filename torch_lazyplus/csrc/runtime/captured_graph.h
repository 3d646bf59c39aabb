#pragma once
// A captured lazy graph: the computation of some outputs from some inputs (torch_lazyplus.trace),
// runnable any number of times on new input values. Everything else the traced function read
// (weights, scalars) is captured by value when it was traced.
#include <memory>
#include <optional>

#include "ir/graph.h"

namespace lazyplus {

class CapturedGraph {
 public:
  // `input_nodes[i]`: the graph input holding input i's elements (flat), whose shape as the function
  // saw it is `input_shapes[i]`; null when the function did not read input i.
  CapturedGraph(std::vector<Value> outputs, const std::vector<const Node*>& input_nodes,
                std::vector<Shape> input_shapes);

  // Through the compile cache: the outputs for new input values (host tensors of the traced dtypes
  // and sizes), as host tensors.
  std::vector<at::Tensor> Run(const std::vector<at::Tensor>& inputs) const;
  // Node by node through the dispatcher, on the inputs' device: on lazyplus the nodes are recorded
  // into the pending graph, and under autograd every step records its backward.
  std::vector<at::Tensor> Replay(const std::vector<at::Tensor>& inputs) const;

  const Graph& graph() const { return *graph_; }
  const std::vector<Shape>& input_shapes() const { return input_shapes_; }
  std::vector<Shape> output_shapes() const;
  // The node of graph() that holds input i, if the function read it.
  const Node* input_node(size_t i) const;

 private:
  void CheckInputs(const std::vector<at::Tensor>& inputs) const;
  // Fresh tensors for outputs that alias an input (the graph returned an input or a view of one).
  std::vector<at::Tensor> Unaliased(std::vector<at::Tensor> outputs, const std::vector<at::Tensor>& inputs) const;

  std::shared_ptr<Graph> graph_;  // shared with its runs in flight
  std::vector<std::optional<size_t>> input_params_;  // position among graph_.parameters; none if unused
  std::vector<Shape> input_shapes_;
};

}  // namespace lazyplus
