#include "backend/cpu/gemm_step.h"

#include <ATen/ops/addmm.h>
#include <ATen/ops/baddbmm.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/mm.h>

#include "device/host_pool.h"
#include "ir/kind_table.h"

namespace lazyplus {
namespace {

// Operands in schema order; scalars (beta, alpha) arrive as 0-dim tensors.
using GemmInto = void (*)(const std::vector<at::Tensor>& in, at::Tensor& out);

const KindTable<GemmInto>& GemmKernels() {
  static const auto* kernels = new KindTable<GemmInto>{
      {"aten::mm", [](const std::vector<at::Tensor>& in, at::Tensor& out) { at::mm_out(out, in[0], in[1]); }},
      {"aten::bmm", [](const std::vector<at::Tensor>& in, at::Tensor& out) { at::bmm_out(out, in[0], in[1]); }},
      {"aten::addmm",
       [](const std::vector<at::Tensor>& in, at::Tensor& out) {
         at::addmm_out(out, in[0], in[1], in[2], in[3].item(), in[4].item());
       }},
      {"aten::baddbmm",
       [](const std::vector<at::Tensor>& in, at::Tensor& out) {
         at::baddbmm_out(out, in[0], in[1], in[2], in[3].item(), in[4].item());
       }},
  };
  return *kernels;
}

}  // namespace

bool IsGemm(const Node& node) { return GemmKernels().Contains(node); }

StepSpec GemmStep(const Graph& graph, const Node* node) {
  StepSpec step = NodeStep(graph, node);  // the node's operands and output; only the kernel differs
  size_t position = graph.position.at(node);
  GemmInto into = *GemmKernels().Find(*node);
  step.kernel = [position, into](const std::vector<at::Tensor>& in, const Graph& run, const std::vector<bool>&) {
    const Shape& s = run.nodes[position]->shape();
    std::vector<at::Tensor> out{EmptyFromPool(s.sizes, s.dtype)};
    into(in, out[0]);
    return out;
  };
  return step;
}

}  // namespace lazyplus
