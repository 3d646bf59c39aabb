// torch.ops.lazyplus: sync(), run_graph(graph, inputs) and its backward, with their device, Meta and
// autograd kernels.
#include <ATen/core/LegacyTypeDispatch.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>

#include "library/graph_class.h"
#include "library/library.h"
#include "tensor/lazy_storage.h"
#include "support/autograd_on.h"
#include "tensor/pending.h"

namespace lazyplus {
namespace {

using GraphPtr = c10::intrusive_ptr<GraphObject>;
using Tensors = std::vector<at::Tensor>;
// Tensor[] arguments are TensorList: the dispatcher reads the keys of an ArrayRef, not of a std::vector.

void Sync() { SyncAll("sync", CaptureCallSite()); }

// Host tensors: the compiled program, through the compile cache.
Tensors RunCompiled(const GraphPtr& graph, at::TensorList inputs) { return graph->captured().Run(inputs.vec()); }

// Lazy tensors: the graph's nodes are recorded into the pending graph, to fuse with what follows.
Tensors RunLazily(const GraphPtr& graph, at::TensorList inputs) { return graph->captured().Replay(inputs.vec()); }

Tensors RunMeta(const GraphPtr& graph, at::TensorList inputs) {
  Tensors outputs;
  for (const Shape& s : graph->captured().output_shapes()) {
    outputs.push_back(at::empty(s.sizes, at::TensorOptions().dtype(s.dtype).device(c10::kMeta)));
  }
  return outputs;
}

// The gradients of the inputs, by replaying the graph op by op under autograd: exact, at the cost of
// the compiled program. On lazyplus the replay and its backward are recorded like any other ops.
Tensors RunBackward(const GraphPtr& graph, at::TensorList inputs, at::TensorList grad_outputs) {
  AutogradOn autograd;  // reached below the autograd keys (the dispatcher's default for this op)
  Tensors leaves, wrt;
  for (const at::Tensor& t : inputs) {
    leaves.push_back(t.detach().requires_grad_(at::isFloatingType(t.scalar_type()) || at::isComplexType(t.scalar_type())));
    if (leaves.back().requires_grad()) wrt.push_back(leaves.back());
  }
  Tensors outputs = graph->captured().Replay(leaves), differentiable, grads;
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].requires_grad()) differentiable.push_back(outputs[i]), grads.push_back(grad_outputs[i]);
  }
  Tensors found = differentiable.empty() || wrt.empty()
                      ? Tensors(wrt.size())
                      : torch::autograd::grad(differentiable, wrt, grads, false, false, /*allow_unused=*/true);
  Tensors result;
  for (size_t i = 0, k = 0; i < leaves.size(); ++i) {
    at::Tensor g = leaves[i].requires_grad() ? found[k++] : at::Tensor();
    result.push_back(g.defined() ? g : at::zeros_like(inputs[i]));
  }
  return result;
}

Tensors RunBackwardMeta(const GraphPtr&, at::TensorList inputs, at::TensorList) {
  Tensors grads;
  for (const at::Tensor& t : inputs) grads.push_back(at::empty_like(t));
  return grads;
}

// run_graph under autograd: forward below the autograd keys, backward through run_graph_backward, an
// op of its own so that AOT tracing records it (with its fake kernel) instead of replaying here.
class RunGraphFunction : public torch::autograd::Function<RunGraphFunction> {
 public:
  static Tensors forward(torch::autograd::AutogradContext* ctx, const GraphPtr& graph, at::TensorList inputs) {
    ctx->saved_data["graph"] = graph;
    ctx->save_for_backward(inputs.vec());
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return CallRunGraph(graph, inputs);
  }

  static Tensors backward(torch::autograd::AutogradContext* ctx, Tensors grad_outputs) {
    Tensors inputs = ctx->get_saved_variables();
    const auto graph = ctx->saved_data["graph"].toCustomClass<GraphObject>();
    auto shapes = graph->captured().output_shapes();
    for (size_t i = 0; i < grad_outputs.size(); ++i) {
      if (!grad_outputs[i].defined()) {
        grad_outputs[i] = at::zeros(shapes[i].sizes, inputs.empty() ? at::TensorOptions(shapes[i].dtype)
                                                                    : inputs[0].options().dtype(shapes[i].dtype));
      }
    }
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("lazyplus::run_graph_backward", "")
                         .typed<Tensors(const GraphPtr&, at::TensorList, at::TensorList)>();
    Tensors grads = op.call(graph, inputs, grad_outputs);
    grads.insert(grads.begin(), at::Tensor());  // the graph argument
    return grads;
  }
};

Tensors RunDifferentiably(const GraphPtr& graph, at::TensorList inputs) { return RunGraphFunction::apply(graph, inputs); }

}  // namespace

Tensors CallRunGraph(const GraphPtr& graph, at::TensorList inputs) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("lazyplus::run_graph", "")
                       .typed<Tensors(const GraphPtr&, at::TensorList)>();
  return op.call(graph, inputs);
}

void RegisterOps(torch::Library& m) {
  m.def("sync() -> ()", &Sync);
  m.def("run_graph(__torch__.torch.classes.lazyplus.Graph graph, Tensor[] inputs) -> Tensor[]");
  m.impl("run_graph", c10::DispatchKey::CompositeExplicitAutograd, TORCH_FN(RunCompiled));
  m.impl("run_graph", c10::DispatchKey::PrivateUse1, TORCH_FN(RunLazily));
  m.impl("run_graph", c10::DispatchKey::Meta, TORCH_FN(RunMeta));
  m.impl("run_graph", c10::DispatchKey::Autograd, TORCH_FN(RunDifferentiably));
  m.def("run_graph_backward(__torch__.torch.classes.lazyplus.Graph graph, Tensor[] inputs, Tensor[] grad_outputs) "
        "-> Tensor[]");
  m.impl("run_graph_backward", c10::DispatchKey::CompositeExplicitAutograd, TORCH_FN(RunBackward));
  m.impl("run_graph_backward", c10::DispatchKey::Meta, TORCH_FN(RunBackwardMeta));
}

}  // namespace lazyplus
