#include "backend/cpu/layer_norm.h"

#include <ATen/Parallel.h>

#include "backend/cpu/layer_norm_rows_args.h"
#include "backend/cpu/own_kernel_step.h"
#include "backend/cpu/thread_scratch.h"
#include "backend/cpu/tile_interpreter.h"
#include "device/host_pool.h"
#include "ir/node_factory.h"

namespace lazyplus {

#define DECLARE_LAYER_NORM_ROWS(isa) \
  namespace isa {                    \
  void LayerNormForwardImpl(const LayerNormForwardArgs&);  \
  void LayerNormBackwardImpl(const LayerNormBackwardArgs&); \
  }
DECLARE_LAYER_NORM_ROWS(AVX2)
DECLARE_LAYER_NORM_ROWS(DEFAULT)
#undef DECLARE_LAYER_NORM_ROWS

namespace {

using Tensors = std::vector<at::Tensor>;

const OpKind& LayerNormBackward() {
  static const OpKind& kind = KindNamed("aten::native_layer_norm_backward");
  return kind;
}

bool FloatContiguous(const at::Tensor& t, int64_t numel) {
  return t.scalar_type() == at::kFloat && t.is_contiguous() && t.numel() == numel;
}

// operands: input, [weight], [bias] -> output, mean, rstd. Anything else (strided operands, empty
// rows) is ATen's.
std::optional<Tensors> RunLayerNormForward(const Node& node, const Tensors& in) {
  const at::Tensor& input = in[0];
  const int64_t cols = c10::multiply_integers(node.attr("normalized_shape").toIntVector());
  if (cols == 0 || input.numel() == 0 || input.numel() % cols != 0) return std::nullopt;
  const int64_t rows = input.numel() / cols;
  size_t next = 1;
  const at::Tensor* gamma = node.attr("weight_defined").toBool() ? &in[next++] : nullptr;
  const at::Tensor* beta = node.attr("bias_defined").toBool() ? &in[next++] : nullptr;
  if (!FloatContiguous(input, rows * cols) || (gamma && !FloatContiguous(*gamma, cols)) ||
      (beta && !FloatContiguous(*beta, cols))) {
    return std::nullopt;
  }
  Tensors out{EmptyFromPool(node.shape(0).sizes, at::kFloat), EmptyFromPool(node.shape(1).sizes, at::kFloat),
              EmptyFromPool(node.shape(2).sizes, at::kFloat)};
  LayerNormForwardArgs a{input.const_data_ptr<float>(), gamma ? gamma->const_data_ptr<float>() : nullptr,
                         beta ? beta->const_data_ptr<float>() : nullptr, out[0].data_ptr<float>(),
                         out[1].data_ptr<float>(), out[2].data_ptr<float>(), rows, cols,
                         static_cast<float>(node.attr("eps").toDouble())};
  // Eager's layer norm has no AVX-512 build: an AVX-512 machine runs the AVX2 one (the same bits).
  ForTileIsa(&AVX2::LayerNormForwardImpl, &AVX2::LayerNormForwardImpl, &DEFAULT::LayerNormForwardImpl)(a);
  return out;
}

// operands: grad_out, input, mean, rstd, [weight], [bias] -> grad_input, grad_weight, grad_bias (each
// only where output_mask asks for it). Anything else (other dtypes, strided operands, a gradient asked
// of an absent weight, empty input) is ATen's.
std::optional<Tensors> RunLayerNormBackward(const Node& node, const Tensors& in) {
  const at::Tensor &grad_out = in[0], &input = in[1], &mean = in[2], &rstd = in[3];
  const bool has_weight = node.attr("weight_defined").toBool(), has_bias = node.attr("bias_defined").toBool();
  const at::Tensor* weight = has_weight ? &in[4] : nullptr;
  const c10::List<bool> mask = node.attr("output_mask").toBoolList();
  const int64_t cols = c10::multiply_integers(node.attr("normalized_shape").toIntVector());
  if (cols == 0 || input.numel() == 0 || input.numel() % cols != 0) return std::nullopt;
  const int64_t rows = input.numel() / cols;
  if ((mask[1] && !has_weight) || (mask[2] && !has_bias)) return std::nullopt;
  if (!FloatContiguous(input, rows * cols) || !FloatContiguous(grad_out, rows * cols) ||
      !FloatContiguous(mean, rows) || !FloatContiguous(rstd, rows) || (weight && !FloatContiguous(*weight, cols))) {
    return std::nullopt;
  }
  Tensors out(3);
  if (mask[0]) out[0] = EmptyFromPool(input.sizes(), at::kFloat);
  if (mask[1]) out[1] = EmptyFromPool(weight->sizes(), at::kFloat);
  if (mask[2]) out[2] = EmptyFromPool(in[has_weight ? 5 : 4].sizes(), at::kFloat);
  const int64_t parts = at::get_num_threads(), stride = (cols + 15) / 16 * 16;
  auto data = [](at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; };
  LayerNormBackwardArgs a{grad_out.const_data_ptr<float>(), input.const_data_ptr<float>(), mean.const_data_ptr<float>(),
                          rstd.const_data_ptr<float>(), weight ? weight->const_data_ptr<float>() : nullptr,
                          data(out[0]), data(out[1]), data(out[2]), rows, cols,
                          ZeroedThreadScratch<float>(2 * parts * stride), parts, stride};
  ForTileIsa(&AVX2::LayerNormBackwardImpl, &AVX2::LayerNormBackwardImpl, &DEFAULT::LayerNormBackwardImpl)(a);  // as above
  return out;
}

}  // namespace

bool IsFloatLayerNorm(const Node& node) {
  static const OpKind& kind = KindNamed("aten::native_layer_norm");
  return &node.kind() == &kind && node.operands()[0].shape().dtype == at::kFloat;
}

StepSpec LayerNormForwardStep(const Graph& graph, const Node* node) {
  return OwnKernelStep(graph, node, &RunLayerNormForward, "LayerNormForwardCalls");
}

bool IsLayerNormBackward(const Node& node) { return &node.kind() == &LayerNormBackward(); }

StepSpec LayerNormBackwardStep(const Graph& graph, const Node* node) {
  return OwnKernelStep(graph, node, &RunLayerNormBackward, "LayerNormBackwardCalls");
}

}  // namespace lazyplus
