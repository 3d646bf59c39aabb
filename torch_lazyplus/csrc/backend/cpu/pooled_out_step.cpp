#include "backend/cpu/pooled_out_step.h"

#include <ATen/ops/addmm.h>
#include <ATen/ops/baddbmm.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/mm.h>

#include "device/host_pool.h"
#include "ir/kind_table.h"

namespace lazyplus {
namespace {

// Operands in schema order; scalars (beta, alpha) arrive as 0-dim tensors; attributes from the node.
using KernelInto = void (*)(const Node& node, const std::vector<at::Tensor>& in, at::Tensor& out);

const KindTable<KernelInto>& Kernels() {
  static const auto* kernels = new KindTable<KernelInto>{
      {"aten::mm", [](const Node&, const std::vector<at::Tensor>& in, at::Tensor& out) { at::mm_out(out, in[0], in[1]); }},
      {"aten::bmm",
       [](const Node&, const std::vector<at::Tensor>& in, at::Tensor& out) { at::bmm_out(out, in[0], in[1]); }},
      {"aten::addmm",
       [](const Node&, const std::vector<at::Tensor>& in, at::Tensor& out) {
         at::addmm_out(out, in[0], in[1], in[2], ScalarValue(in[3]), ScalarValue(in[4]));
       }},
      {"aten::baddbmm",
       [](const Node&, const std::vector<at::Tensor>& in, at::Tensor& out) {
         at::baddbmm_out(out, in[0], in[1], in[2], ScalarValue(in[3]), ScalarValue(in[4]));
       }},
      {"aten::gelu",
       [](const Node& n, const std::vector<at::Tensor>& in, at::Tensor& out) {
         at::gelu_out(out, in[0], n.attr("approximate").toStringRef());
       }},
  };
  return *kernels;
}

}  // namespace

bool HasPooledOutKernel(const Node& node) { return Kernels().Contains(node); }

StepSpec PooledOutStep(const Graph& graph, const Node* node) {
  StepSpec step = NodeStep(graph, node);  // the node's operands and output; only the kernel differs
  size_t position = graph.position.at(node);
  KernelInto into = *Kernels().Find(*node);
  step.kernel = [position, into](const std::vector<at::Tensor>& in, const StepRun& run) {
    const Node& n = *run.graph.nodes[position];
    std::vector<at::Tensor> out{EmptyFromPool(n.shape().sizes, n.shape().dtype)};
    into(n, in, out[0]);
    return out;
  };
  return step;
}

}  // namespace lazyplus
