#include "runtime/captured_graph.h"

#include "runtime/graph_executor.h"

namespace lazyplus {

CapturedGraph::CapturedGraph(std::vector<Value> outputs, const std::vector<const Node*>& input_nodes,
                             std::vector<Shape> input_shapes)
    : graph_(BuildGraph(std::move(outputs))), input_shapes_(std::move(input_shapes)) {
  for (const Node* input : input_nodes) {
    std::optional<size_t> position;
    for (size_t j = 0; j < graph_.parameters.size(); ++j) {
      if (graph_.parameters[j] == input) position = j;
    }
    input_params_.push_back(position);
  }
}

std::vector<at::Tensor> CapturedGraph::Run(const std::vector<at::Tensor>& inputs) const {
  TORCH_CHECK(inputs.size() == input_shapes_.size(), "lazyplus.Graph.run: expected ", input_shapes_.size(),
              " inputs (as traced), got ", inputs.size());
  std::vector<at::Tensor> params;
  params.reserve(graph_.parameters.size());
  for (const Parameter* p : graph_.parameters) params.push_back(p->host_value());
  for (size_t i = 0; i < inputs.size(); ++i) {
    Shape given{inputs[i].scalar_type(), inputs[i].sizes().vec()};
    TORCH_CHECK(given == input_shapes_[i], "lazyplus.Graph.run: input ", i, " must be ", input_shapes_[i],
                " as traced, got ", given);
    if (input_params_[i]) params[*input_params_[i]] = inputs[i].contiguous().view(-1);
  }
  return RunGraph(graph_, params);
}

}  // namespace lazyplus
