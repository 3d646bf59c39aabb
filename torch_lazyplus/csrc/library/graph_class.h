#pragma once
// torch.classes.lazyplus.Graph: a captured lazy graph as a TorchScript custom class, so that scripted
// modules, torch.save/torch.jit.save, C++ programs and torch.export can hold and run one.
#include <torch/custom_class.h>

#include "runtime/captured_graph.h"

namespace lazyplus {

class GraphObject final : public torch::CustomClassHolder {
 public:
  explicit GraphObject(std::shared_ptr<const CapturedGraph> captured) : captured_(std::move(captured)) {}
  const CapturedGraph& captured() const { return *captured_; }

 private:
  std::shared_ptr<const CapturedGraph> captured_;
};

// torch.ops.lazyplus.run_graph(graph, inputs), through the dispatcher (ops.cpp).
std::vector<at::Tensor> CallRunGraph(const c10::intrusive_ptr<GraphObject>& graph, at::TensorList inputs);

}  // namespace lazyplus
