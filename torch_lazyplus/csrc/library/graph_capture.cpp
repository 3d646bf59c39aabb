#include "library/graph_capture.h"

#include "tensor/lazy_tensor.h"

namespace lazyplus {

GraphCapture::GraphCapture(const std::vector<at::Tensor>& inputs) {
  for (const auto& t : inputs) {
    TORCH_CHECK(IsLazy(t) && t.is_contiguous() && t.storage_offset() == 0,
                "lazyplus.trace: inputs must be contiguous lazyplus tensors");
    nodes_.push_back(StorageOf(t).Contents(t.scalar_type()).node);
    shapes_.push_back({t.scalar_type(), c10::DimVector(t.sizes())});
  }
}

c10::intrusive_ptr<GraphObject> GraphCapture::Finish(const std::vector<at::Tensor>& outputs) const {
  std::vector<Value> roots;
  for (const auto& t : outputs) {
    TORCH_CHECK(IsLazy(t), "expected lazyplus tensors, got a tensor on ", t.device());
    roots.push_back(ValueOf(t));
  }
  std::vector<const Node*> inputs;
  for (const auto& n : nodes_) inputs.push_back(n.get());
  return c10::make_intrusive<GraphObject>(std::make_shared<CapturedGraph>(std::move(roots), inputs, shapes_));
}

}  // namespace lazyplus
