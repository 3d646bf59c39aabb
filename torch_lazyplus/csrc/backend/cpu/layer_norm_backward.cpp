#include "backend/cpu/layer_norm_backward.h"

#include <ATen/Parallel.h>

#include "backend/cpu/layer_norm_backward_args.h"
#include "backend/cpu/own_kernel_step.h"
#include "backend/cpu/thread_scratch.h"
#include "backend/cpu/tile_interpreter.h"
#include "device/host_pool.h"
#include "ir/node_factory.h"

namespace lazyplus {

#define DECLARE_LAYER_NORM_ROWS(isa) \
  namespace isa {                    \
  void LayerNormBackwardImpl(const LayerNormBackwardArgs&); \
  }
DECLARE_LAYER_NORM_ROWS(AVX512)
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
  ForTileIsa(&AVX512::LayerNormBackwardImpl, &AVX2::LayerNormBackwardImpl, &DEFAULT::LayerNormBackwardImpl)(a);
  return out;
}

}  // namespace

bool IsLayerNormBackward(const Node& node) { return &node.kind() == &LayerNormBackward(); }

StepSpec LayerNormBackwardStep(const Graph& graph, const Node* node) {
  return OwnKernelStep(graph, node, &RunLayerNormBackward, "LayerNormBackwardCalls");
}

}  // namespace lazyplus
