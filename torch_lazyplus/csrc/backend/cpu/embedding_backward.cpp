#include "backend/cpu/embedding_backward.h"

#include <algorithm>

#include "backend/cpu/own_kernel_step.h"
#include "device/host_pool.h"
#include "ir/node_factory.h"

namespace lazyplus {
namespace {

using Tensors = std::vector<at::Tensor>;

const OpKind& EmbeddingDenseBackward() {
  static const OpKind& kind = KindNamed("aten::embedding_dense_backward");
  return kind;
}

template <typename Index>
bool InRange(const Index* indices, int64_t count, int64_t rows, int64_t padding_idx) {
  return std::all_of(indices, indices + count,
                     [&](Index k) { return k == padding_idx || (k >= 0 && k < rows); });
}

template <typename Index>
void AddRows(const Index* indices, int64_t count, const float* grad, int64_t width, int64_t padding_idx,
             float* weight_grad) {
  for (int64_t i = 0; i < count; ++i) {
    if (indices[i] == padding_idx) continue;
    float* row = weight_grad + indices[i] * width;
    const float* g = grad + i * width;
    for (int64_t j = 0; j < width; ++j) row[j] += g[j];
  }
}

// operands: grad_output, indices -> the weight's gradient. Frequency-scaled gradients (a multiply
// before each add, which ATen may fuse), other dtypes, strided operands and indices out of range (ATen
// raises eager's error) are ATen's.
std::optional<Tensors> RunEmbeddingBackward(const Node& node, const Tensors& in) {
  const at::Tensor &grad = in[0], &indices = in[1];
  const int64_t rows = node.attr("num_weights").toInt(), padding_idx = node.attr("padding_idx").toInt();
  if (node.attr("scale_grad_by_freq").toBool() || grad.scalar_type() != at::kFloat || !grad.is_contiguous() ||
      !indices.is_contiguous() || grad.dim() == 0) {
    return std::nullopt;
  }
  const int64_t width = grad.size(-1), count = indices.numel();
  if (grad.numel() != count * width) return std::nullopt;
  at::Tensor weight_grad = EmptyFromPool({rows, width}, at::kFloat);
  std::fill_n(weight_grad.data_ptr<float>(), rows * width, 0.0f);
  auto run = [&](auto* index) {
    if (!InRange(index, count, rows, padding_idx)) return false;
    AddRows(index, count, grad.const_data_ptr<float>(), width, padding_idx, weight_grad.data_ptr<float>());
    return true;
  };
  const bool done = indices.scalar_type() == at::kLong  ? run(indices.const_data_ptr<int64_t>())
                    : indices.scalar_type() == at::kInt ? run(indices.const_data_ptr<int32_t>())
                                                        : false;
  if (!done) return std::nullopt;
  return Tensors{weight_grad};
}

}  // namespace

bool IsEmbeddingBackward(const Node& node) { return &node.kind() == &EmbeddingDenseBackward(); }

StepSpec EmbeddingBackwardStep(const Graph& graph, const Node* node) {
  return OwnKernelStep(graph, node, &RunEmbeddingBackward, "EmbeddingBackwardCalls");
}

}  // namespace lazyplus
