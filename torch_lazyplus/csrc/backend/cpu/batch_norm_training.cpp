#include "backend/cpu/batch_norm_training.h"

#include <ATen/Parallel.h>

#include <cmath>

#include "backend/cpu/batch_norm_kernels.h"
#include "backend/cpu/batch_norm_layout.h"
#include "backend/cpu/own_kernel_step.h"
#include "backend/cpu/thread_scratch.h"
#include "device/host_pool.h"
#include "ir/node_factory.h"

namespace lazyplus {

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

// Float32 input in one of ATen's two layouts, float32 per-channel parameters and statistics.
bool Fits(const BatchNormArgs& a) {
  const at::Tensor& x = a.input;
  if (x.scalar_type() != at::kFloat || BatchNormLayoutOf(x) == BatchNormLayout::kOther) return false;
  const int64_t c = x.size(1);
  return PerChannelFloat(a.weight, c) && PerChannelFloat(a.bias, c) && PerChannelFloat(&a.running_mean, c) &&
         PerChannelFloat(&a.running_var, c);
}

// ATen's batch_norm_cpu_update_stats_template for one channel, from its mean and summed squared
// deviations: the same float32/float64 steps in the same order.
void Statistics(const BatchNormArgs& a, int64_t c, float mean, float var_sum, const Tensors& out) {
  const int64_t n = a.input.numel() / a.input.size(1);
  const double biased_var = var_sum / n;  // float32 division, as ATen's `_var_sum_a[f] / n`
  const float invstd = biased_var != 0 || a.eps != 0 ? static_cast<float>(1 / std::sqrt(biased_var + a.eps)) : 0.0f;
  out[1].data_ptr<float>()[c] = mean;
  out[2].data_ptr<float>()[c] = invstd;
  const double unbiased_var = var_sum / (n - 1);
  out[3].data_ptr<float>()[c] = a.momentum * mean + (1 - a.momentum) * a.running_mean.const_data_ptr<float>()[c];
  out[4].data_ptr<float>()[c] =
      static_cast<float>(a.momentum * unbiased_var + (1 - a.momentum) * a.running_var.const_data_ptr<float>()[c]);
}

// Input of planes, one channel at a time (batch_norm_cpu_collect_stats_contiguous_impl and
// batch_norm_cpu_contiguous_impl).
void PlanesChannel(const BatchNormArgs& a, int64_t c, const Tensors& out) {
  const int64_t batches = a.input.size(0), channels = a.input.size(1), plane = a.input.numel() / batches / channels;
  const float* x = a.input.const_data_ptr<float>() + c * plane;
  const int64_t stride = channels * plane;
  const BatchNormKernels& k = BatchNormKernelsOfTileIsa();
  const float mean = static_cast<float>(k.value_sum(x, batches, plane, stride) / (batches * plane));
  Statistics(a, c, mean, static_cast<float>(k.squared_deviation_sum(x, batches, plane, stride, mean)), out);
  const float w = a.weight ? a.weight->const_data_ptr<float>()[c] : 1.0f;
  const float b = a.bias ? a.bias->const_data_ptr<float>()[c] : 0.0f;
  k.normalize_channel(out[0].data_ptr<float>() + c * plane, x, batches, plane, stride, mean,
                      out[2].data_ptr<float>()[c], w, b);
}

void PlanesBatchNorm(const BatchNormArgs& a, const Tensors& out) {
  at::parallel_for(0, a.input.size(1), 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) PlanesChannel(a, c, out);
  });
}

// Channels-last input's statistics (batch_norm_cpu_collect_stats_channels_last_impl).
void RowStatistics(const BatchNormArgs& a, const Tensors& out) {
  const int64_t channels = a.input.size(1), rows = a.input.numel() / channels;
  const float* x = a.input.const_data_ptr<float>();
  const BatchNormKernels& k = BatchNormKernelsOfTileIsa();
  float* mean = out[1].data_ptr<float>();
  const bool split = rows > at::get_num_threads();
  if (!split && channels > 16) {
    // No more rows than threads: eager's bits show ATen summing each channel in float64 here, and in
    // one float32 part (below) for 16 channels or fewer.
    for (int64_t c = 0; c < channels; ++c) {
      double sum = 0, var_sum = 0;
      for (int64_t r = 0; r < rows; ++r) sum += x[r * channels + c];
      mean[c] = static_cast<float>(sum / rows);
      for (int64_t r = 0; r < rows; ++r) var_sum += (x[r * channels + c] - mean[c]) * (x[r * channels + c] - mean[c]);
      Statistics(a, c, mean[c], static_cast<float>(var_sum), out);
    }
  } else {
    const double* sums = SumRowParts(rows, channels, 1, split, [&](float* const* part, int64_t begin, int64_t end) {
      k.add_values(part[0], x + begin * channels, end - begin, channels);
    });
    for (int64_t c = 0; c < channels; ++c) mean[c] = static_cast<float>(sums[c] / rows);
    sums = SumRowParts(rows, channels, 1, split, [&](float* const* part, int64_t begin, int64_t end) {
      k.add_squared_deviations(part[0], x + begin * channels, end - begin, channels, mean);
    });
    for (int64_t c = 0; c < channels; ++c) Statistics(a, c, mean[c], static_cast<float>(sums[c]), out);
  }
}

// Channels-last input (batch_norm_cpu_channels_last_impl after the statistics).
void RowsBatchNorm(const BatchNormArgs& a, const Tensors& out) {
  RowStatistics(a, out);
  const int64_t channels = a.input.size(1), rows = a.input.numel() / channels;
  const float* x = a.input.const_data_ptr<float>();
  const BatchNormKernels& k = BatchNormKernelsOfTileIsa();
  float* alpha = ZeroedThreadScratch<float>(2 * channels);
  float* beta = alpha + channels;
  const float* weight = a.weight ? a.weight->const_data_ptr<float>() : nullptr;
  const float* bias = a.bias ? a.bias->const_data_ptr<float>() : nullptr;
  k.linear_terms(alpha, beta, out[1].const_data_ptr<float>(), out[2].const_data_ptr<float>(), weight, bias, channels);
  float* y = out[0].data_ptr<float>();
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    k.normalize_rows(y + begin * channels, x + begin * channels, end - begin, channels, alpha, beta);
  });
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
  Tensors out{EmptyInLayoutOf(a.input)};
  for (int k = 0; k < 4; ++k) out.push_back(EmptyFromPool({channels}, at::kFloat));
  if (BatchNormLayoutOf(a.input) == BatchNormLayout::kPlanes) {
    PlanesBatchNorm(a, out);
  } else {
    RowsBatchNorm(a, out);
  }
  return out;
}

}  // namespace

bool IsBatchNormTraining(const Node& node) { return &node.kind() == &BatchNormFunctional(); }

StepSpec BatchNormTrainingStep(const Graph& graph, const Node* node) {
  return OwnKernelStep(graph, node, &RunBatchNormTraining, "BatchNormTrainingCalls");
}

}  // namespace lazyplus
