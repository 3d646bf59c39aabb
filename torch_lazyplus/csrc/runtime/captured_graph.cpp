#include "runtime/captured_graph.h"

#include <unordered_map>

#include "device/device.h"
#include "runtime/graph_executor.h"

namespace lazyplus {

CapturedGraph::CapturedGraph(std::vector<Value> outputs, const std::vector<const Node*>& input_nodes,
                             std::vector<Shape> input_shapes)
    : graph_(std::make_shared<Graph>(BuildGraph(std::move(outputs)))), input_shapes_(std::move(input_shapes)) {
  for (const Node* input : input_nodes) {
    std::optional<size_t> position;
    for (size_t j = 0; j < graph_->parameters.size(); ++j) {
      if (input && graph_->parameters[j] == input) position = j;
    }
    input_params_.push_back(position);
  }
}

std::vector<Shape> CapturedGraph::output_shapes() const {
  std::vector<Shape> shapes;
  for (const Value& v : graph_->roots) shapes.push_back(v.shape());
  return shapes;
}

const Node* CapturedGraph::input_node(size_t i) const {
  return input_params_.at(i) ? graph_->parameters[*input_params_[i]] : nullptr;
}

void CapturedGraph::CheckInputs(const std::vector<at::Tensor>& inputs) const {
  TORCH_CHECK(inputs.size() == input_shapes_.size(), "lazyplus.Graph.run: expected ", input_shapes_.size(),
              " inputs (as traced), got ", inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    TORCH_CHECK(inputs[i].defined(), "lazyplus.Graph.run: input ", i, " is an undefined tensor");
    Shape given{inputs[i].scalar_type(), c10::DimVector(inputs[i].sizes())};
    TORCH_CHECK(given == input_shapes_[i], "lazyplus.Graph.run: input ", i, " must be ", input_shapes_[i],
                " as traced, got ", given);
  }
}

std::vector<at::Tensor> CapturedGraph::Unaliased(std::vector<at::Tensor> outputs,
                                                 const std::vector<at::Tensor>& inputs) const {
  for (auto& out : outputs) {
    for (const auto& in : inputs) {
      if (out.is_alias_of(in)) out = out.clone();
    }
  }
  return outputs;
}

std::vector<at::Tensor> CapturedGraph::Run(const std::vector<at::Tensor>& inputs) const {
  CheckInputs(inputs);
  std::vector<BufferPtr> buffers = GraphInputs(*graph_);
  const Backend& backend = BackendFor(CurrentDevice());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (input_params_[i]) buffers[*input_params_[i]] = backend.Upload(inputs[i].contiguous().view(-1));
  }
  return Unaliased(RunGraph(graph_, std::move(buffers)), inputs);
}

std::vector<at::Tensor> CapturedGraph::Replay(const std::vector<at::Tensor>& inputs) const {
  CheckInputs(inputs);
  const c10::Device device = inputs.empty() ? c10::Device(c10::kCPU) : inputs[0].device();
  std::unordered_map<const Node*, std::vector<at::Tensor>> values;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (input_params_[i]) values[input_node(i)] = {inputs[i].contiguous().view(-1)};
  }
  for (const Parameter* p : graph_->parameters) {
    if (values.count(p)) continue;  // an input
    at::Tensor v = p->host_value();
    // 0-dim scalars stay on the host, where ATen takes them with tensors of any device.
    values[p] = {v.dim() == 0 ? v : v.to(device)};
  }
  for (const Node* n : graph_->nodes) {
    if (n->is_parameter()) continue;
    std::vector<at::Tensor> operands;
    for (const Value& v : n->operands()) operands.push_back(values.at(v.node.get()).at(v.index));
    values[n] = n->host_kernel()(operands);
  }
  std::vector<at::Tensor> outputs;
  for (const Value& v : graph_->roots) outputs.push_back(values.at(v.node.get()).at(v.index));
  return Unaliased(std::move(outputs), inputs);
}

}  // namespace lazyplus
