#include "backend/cpu/batch_norm_backward.h"

#include <ATen/Parallel.h>

#include "backend/cpu/batch_norm_kernels.h"
#include "backend/cpu/batch_norm_layout.h"
#include "backend/cpu/own_kernel_step.h"
#include "ir/node_factory.h"

namespace lazyplus {
namespace {

using Tensors = std::vector<at::Tensor>;

const OpKind& BatchNormBackward() {
  static const OpKind& kind = KindNamed("aten::native_batch_norm_backward");
  return kind;
}

// batch_norm_cpu_backward_channels_last_impl in training: the sums of dy and of (x - mean) * dy per
// channel, then each element's gradient from them.
Tensors RowsBackward(const at::Tensor& grad_out, const at::Tensor& input, const float* weight, const float* mean,
                     const float* invstd, const c10::List<bool>& mask) {
  const int64_t channels = input.size(1), rows = input.numel() / channels;
  const float *x = input.const_data_ptr<float>(), *dy = grad_out.const_data_ptr<float>();
  const BatchNormKernels& k = BatchNormKernelsOfTileIsa();
  auto add = [&](float* const* part, int64_t begin, int64_t end) {
    k.add_gradient_terms(part[0], part[1], x + begin * channels, dy + begin * channels, end - begin, channels, mean);
  };
  const double* sums = SumRowParts(rows, channels, 2, /*split=*/true, add);
  // ATen keeps the sums in float32, and the terms of dx a channel as its vector code computes them.
  float* terms = ZeroedThreadScratch<float>(5 * channels);
  float *dy_sum = terms, *dot_sum = terms + channels, *scale = terms + 2 * channels,
        *grad_mean = terms + 3 * channels, *ones = terms + 4 * channels;
  const float n = static_cast<float>(rows);
  for (int64_t c = 0; c < channels; ++c) {
    dy_sum[c] = static_cast<float>(sums[c]);
    dot_sum[c] = static_cast<float>(sums[channels + c]);
    scale[c] = dot_sum[c] * invstd[c] * invstd[c] / n;
    grad_mean[c] = dy_sum[c] / n;
    ones[c] = 1.0f;
  }
  Tensors out(3);
  if (mask[0]) {
    out[0] = EmptyInLayoutOf(input);
    float* dx = out[0].data_ptr<float>();
    const RowGradientTerms t{mean, scale, grad_mean, invstd, weight ? weight : ones};
    at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
      k.input_gradient_rows(dx + begin * channels, x + begin * channels, dy + begin * channels, end - begin,
                            channels, t);
    });
  }
  if (mask[1]) {
    out[1] = EmptyFromPool({channels}, at::kFloat);
    for (int64_t c = 0; c < channels; ++c) out[1].data_ptr<float>()[c] = dot_sum[c] * invstd[c];
  }
  if (mask[2]) {
    out[2] = EmptyFromPool({channels}, at::kFloat);
    std::copy_n(dy_sum, channels, out[2].data_ptr<float>());
  }
  return out;
}

// operands: grad_out, input, [weight], [running_mean], [running_var], [save_mean], [save_invstd] ->
// grad_input, grad_weight, grad_bias (each only where output_mask asks for it). Training on float32
// channels-last input and gradient of one layout; anything else is ATen's.
std::optional<Tensors> RunBatchNormBackward(const Node& node, const Tensors& in) {
  if (!node.attr("train").toBool() || !node.attr("save_mean_defined").toBool() ||
      !node.attr("save_invstd_defined").toBool()) {
    return std::nullopt;
  }
  const at::Tensor &grad_out = in[0], &input = in[1];
  size_t i = 2;
  const at::Tensor* weight = node.attr("weight_defined").toBool() ? &in[i++] : nullptr;
  i += node.attr("running_mean_defined").toBool() + node.attr("running_var_defined").toBool();
  const at::Tensor &save_mean = in[i], &save_invstd = in[i + 1];
  if (input.scalar_type() != at::kFloat || grad_out.scalar_type() != at::kFloat ||
      BatchNormLayoutOf(input) != BatchNormLayout::kRows || grad_out.strides() != input.strides()) {
    return std::nullopt;
  }
  const int64_t channels = input.size(1);
  if (!PerChannelFloat(weight, channels) || !PerChannelFloat(&save_mean, channels) ||
      !PerChannelFloat(&save_invstd, channels)) {
    return std::nullopt;
  }
  return RowsBackward(grad_out, input, weight ? weight->const_data_ptr<float>() : nullptr,
                      save_mean.const_data_ptr<float>(), save_invstd.const_data_ptr<float>(),
                      node.attr("output_mask").toBoolList());
}

}  // namespace

bool IsBatchNormBackward(const Node& node) { return &node.kind() == &BatchNormBackward(); }

StepSpec BatchNormBackwardStep(const Graph& graph, const Node* node) {
  return OwnKernelStep(graph, node, &RunBatchNormBackward, "BatchNormBackwardCalls");
}

}  // namespace lazyplus
