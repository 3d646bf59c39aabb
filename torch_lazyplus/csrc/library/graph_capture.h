#pragma once
// torch_lazyplus.trace's capture: records the inputs of a trace before the function runs (so in-place
// writes to them cannot hide the graph inputs), then captures the graph of its outputs.
#include <ATen/core/Tensor.h>

#include "library/graph_class.h"

namespace lazyplus {

class GraphCapture {
 public:
  explicit GraphCapture(const std::vector<at::Tensor>& inputs);
  // A torch.classes.lazyplus.Graph computing `outputs` from the inputs.
  c10::intrusive_ptr<GraphObject> Finish(const std::vector<at::Tensor>& outputs) const;

 private:
  std::vector<NodePtr> nodes_;
  std::vector<Shape> shapes_;
};

}  // namespace lazyplus
