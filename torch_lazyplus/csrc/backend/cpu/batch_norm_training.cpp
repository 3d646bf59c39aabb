#include "backend/cpu/batch_norm_training.h"

#include <ATen/Parallel.h>

#include <cmath>

#include "backend/cpu/own_kernel_step.h"
#include "backend/cpu/tile_interpreter.h"
#include "device/host_pool.h"
#include "ir/node_factory.h"

namespace lazyplus {

#define DECLARE_BATCH_NORM_CHANNEL(isa)                                                                  \
  namespace isa {                                                                                        \
  double ChannelValueSumImpl(const float*, int64_t, int64_t, int64_t);                                   \
  double ChannelSquaredDeviationSumImpl(const float*, int64_t, int64_t, int64_t, float);                 \
  void NormalizeChannelImpl(float*, const float*, int64_t, int64_t, int64_t, float, float, float, float); \
  }
DECLARE_BATCH_NORM_CHANNEL(AVX512)
DECLARE_BATCH_NORM_CHANNEL(AVX2)
DECLARE_BATCH_NORM_CHANNEL(DEFAULT)
#undef DECLARE_BATCH_NORM_CHANNEL

namespace {

using Tensors = std::vector<at::Tensor>;

const OpKind& BatchNormFunctional() {
  static const OpKind& kind = KindNamed("aten::_native_batch_norm_legit_functional");
  return kind;
}

struct BatchNormArgs {
  const at::Tensor &input, *weight, *bias, &running_mean, &running_var;
  float momentum;
  double eps;
};

// Float32 contiguous input with planes of more than one value (ATen sums (N, C) and (N, C, 1, ...)
// as channels-last input, in another order), float32 per-channel parameters and statistics.
bool Fits(const BatchNormArgs& a) {
  const at::Tensor& x = a.input;
  if (x.scalar_type() != at::kFloat || x.dim() < 3 || !x.is_contiguous() || x.numel() == 0) return false;
  auto per_channel = [&](const at::Tensor* t) {
    return !t || (t->scalar_type() == at::kFloat && t->dim() == 1 && t->is_contiguous() && t->size(0) == x.size(1));
  };
  return x.numel() / x.size(0) / x.size(1) > 1 && per_channel(a.weight) && per_channel(a.bias) &&
         per_channel(&a.running_mean) && per_channel(&a.running_var);
}

// ATen's batch_norm_cpu_update_stats_template and batch_norm_cpu_transform_input_template for one
// channel, with its statistics: the same float32/float64 steps in the same order.
void Channel(const BatchNormArgs& a, int64_t c, const Tensors& out) {
  const int64_t batches = a.input.size(0), channels = a.input.size(1), plane = a.input.numel() / batches / channels;
  const int64_t n = batches * plane;
  const float* x = a.input.const_data_ptr<float>() + c * plane;
  const int64_t stride = channels * plane;
  auto* value_sum = ForTileIsa(&AVX512::ChannelValueSumImpl, &AVX2::ChannelValueSumImpl, &DEFAULT::ChannelValueSumImpl);
  auto* deviation_sum = ForTileIsa(&AVX512::ChannelSquaredDeviationSumImpl, &AVX2::ChannelSquaredDeviationSumImpl,
                                   &DEFAULT::ChannelSquaredDeviationSumImpl);
  const float mean = static_cast<float>(value_sum(x, batches, plane, stride) / n);
  const float var_sum = static_cast<float>(deviation_sum(x, batches, plane, stride, mean));
  const double biased_var = var_sum / n;  // float32 division, as ATen's `_var_sum_a[f] / n`
  const float invstd = biased_var != 0 || a.eps != 0 ? static_cast<float>(1 / std::sqrt(biased_var + a.eps)) : 0.0f;
  out[1].data_ptr<float>()[c] = mean;
  out[2].data_ptr<float>()[c] = invstd;
  const double unbiased_var = var_sum / (n - 1);
  out[3].data_ptr<float>()[c] = a.momentum * mean + (1 - a.momentum) * a.running_mean.const_data_ptr<float>()[c];
  out[4].data_ptr<float>()[c] =
      static_cast<float>(a.momentum * unbiased_var + (1 - a.momentum) * a.running_var.const_data_ptr<float>()[c]);
  const float w = a.weight ? a.weight->const_data_ptr<float>()[c] : 1.0f;
  const float b = a.bias ? a.bias->const_data_ptr<float>()[c] : 0.0f;
  auto* normalize = ForTileIsa(&AVX512::NormalizeChannelImpl, &AVX2::NormalizeChannelImpl, &DEFAULT::NormalizeChannelImpl);
  normalize(out[0].data_ptr<float>() + c * plane, x, batches, plane, stride, mean, invstd, w, b);
}

// operands: input, [weight], [bias], running_mean, running_var -> output, save_mean, save_invstd,
// running_mean, running_var
std::optional<Tensors> RunBatchNormTraining(const Node& node, const Tensors& in) {
  if (!node.attr("training").toBool()) return std::nullopt;
  size_t i = 1;
  const at::Tensor* weight = node.attr("weight_defined").toBool() ? &in[i++] : nullptr;
  const at::Tensor* bias = node.attr("bias_defined").toBool() ? &in[i++] : nullptr;
  BatchNormArgs a{in[0], weight, bias, in[i], in[i + 1], static_cast<float>(node.attr("momentum").toDouble()),
                  node.attr("eps").toDouble()};
  if (!Fits(a)) return std::nullopt;
  const int64_t channels = a.input.size(1);
  Tensors out{EmptyFromPool(a.input.sizes(), at::kFloat)};
  for (int k = 0; k < 4; ++k) out.push_back(EmptyFromPool({channels}, at::kFloat));
  at::parallel_for(0, channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) Channel(a, c, out);
  });
  return out;
}

}  // namespace

bool IsBatchNormTraining(const Node& node) { return &node.kind() == &BatchNormFunctional(); }

StepSpec BatchNormTrainingStep(const Graph& graph, const Node* node) {
  return OwnKernelStep(graph, node, &RunBatchNormTraining, "BatchNormTrainingCalls");
}

}  // namespace lazyplus
