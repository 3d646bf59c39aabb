#include "aten/shape_functions.h"

#include <ATen/Config.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/TensorIterator.h>
#include <ATen/WrapDimUtils.h>
#include <ATen/native/layer_norm.h>
#include <ATen/ops/_native_batch_norm_legit_no_training_ops.h>
#include <ATen/ops/_native_batch_norm_legit_ops.h>
#include <ATen/ops/arange_native.h>
#include <ATen/ops/cat_meta_dispatch.h>
#include <ATen/ops/clamp_min_meta_dispatch.h>
#include <ATen/ops/convolution_ops.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like_native.h>
#include <ATen/ops/fill.h>
#include <ATen/ops/native_batch_norm_backward_ops.h>
#include <ATen/ops/result_type_native.h>

#include <algorithm>
#include <initializer_list>

#include "support/onednn_convolution.h"

namespace lazyplus {
namespace {

const at::Tensor& OrUndefined(const std::optional<at::Tensor>& t) {
  static const at::Tensor undefined;
  return t.has_value() ? *t : undefined;
}

// A contiguous meta tensor, as the CPU kernels below allocate their outputs.
at::Tensor MetaEmpty(at::IntArrayRef sizes, at::ScalarType dtype) {
  return at::empty(sizes, at::TensorOptions().dtype(dtype).device(c10::kMeta));
}

// Layer norm's CPU kernels take float, double, bfloat16 and half inputs. The op is not probed
// (codegen/ops.yaml: a probe's sizes of 2 never match normalized_shape, and its error cost up to 0.7 ms,
// the first C++ exception of a process), so other dtypes are left to the CPU kernel, which raises
// eager's error.
void CheckLayerNormDtype(const at::Tensor& input) {
  at::ScalarType x = input.scalar_type();
  TORCH_CHECK(x == at::kFloat || x == at::kDouble || x == at::kBFloat16 || x == at::kHalf,
              "layer_norm of a dtype its CPU kernel does not take: left to the CPU kernel");
}

// The dtype of layer norm's statistics: the input's, or float for a reduced-precision input with float
// parameters (ATen's "mixed type", cpu/mixed_data_type.h). Other mixes are left to the CPU kernel.
at::ScalarType LayerNormStatsDtype(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias) {
  at::ScalarType x = input.scalar_type();
  bool same = (!weight.defined() || weight.scalar_type() == x) && (!bias.defined() || bias.scalar_type() == x);
  if (same) return x;
  bool reduced = x == at::kBFloat16 || x == at::kHalf;
  bool float_params = (!weight.defined() || weight.scalar_type() == at::kFloat) &&
                      (!bias.defined() || bias.scalar_type() == at::kFloat);
  TORCH_CHECK(reduced && float_params, "layer_norm parameters of another dtype: left to the CPU kernel");
  return at::kFloat;
}

// Batch norm's CPU kernels treat a tensor dense in any of these formats as contiguous (Normalization.cpp).
bool DenseInAFormat(const at::Tensor& t) {
  return t.is_contiguous() || t.is_contiguous(at::MemoryFormat::ChannelsLast) ||
         t.is_contiguous(at::MemoryFormat::ChannelsLast3d);
}

at::MemoryFormat DenseFormatOf(const at::Tensor& t) {
  if (t.is_contiguous()) return at::MemoryFormat::Contiguous;
  return t.is_contiguous(at::MemoryFormat::ChannelsLast) ? at::MemoryFormat::ChannelsLast
                                                         : at::MemoryFormat::ChannelsLast3d;
}

at::Tensor EmptyLike(const at::Tensor& t, at::MemoryFormat format) {
  return at::native::empty_like(t, std::nullopt, std::nullopt, std::nullopt, std::nullopt, format);
}

// What these functions model: an input of 2+ dims and parameters, where given, of its dtype and C elements
// (no "mixed type": bfloat16 input with float parameters).
bool PlainBatchNorm(const at::Tensor& input, std::initializer_list<const at::Tensor*> params) {
  if (input.dim() < 2 || !at::isFloatingType(input.scalar_type())) return false;
  return std::all_of(params.begin(), params.end(), [&](const at::Tensor* p) {
    return !p->defined() || (p->scalar_type() == input.scalar_type() && p->dim() == 1 && p->numel() == input.size(1));
  });
}

// batch_norm_cpu's output: dense like a dense input when every operand is dense, else in the input's
// suggested format.
at::Tensor BatchNormOutput(const at::Tensor& input, std::initializer_list<const at::Tensor*> params) {
  bool all_dense = DenseInAFormat(input) && std::all_of(params.begin(), params.end(), [](const at::Tensor* p) {
    return !p->defined() || p->is_contiguous();
  });
  return EmptyLike(input, all_dense ? DenseFormatOf(input) : input.suggest_memory_format());
}

// The output sizes of a plain convolution, or nullopt where the arguments are not those of one.
std::optional<std::vector<int64_t>> ConvolutionSizes(const at::Tensor& input, const at::Tensor& weight,
                                                     const at::Tensor& bias, at::IntArrayRef stride,
                                                     at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups) {
  const int64_t spatial = input.dim() - 2;
  bool plain = spatial >= 1 && spatial <= 3 && weight.dim() == input.dim() && groups >= 1 &&
               weight.size(0) % groups == 0 && input.size(1) == weight.size(1) * groups &&
               static_cast<int64_t>(stride.size()) == spatial && static_cast<int64_t>(padding.size()) == spatial &&
               static_cast<int64_t>(dilation.size()) == spatial &&
               (!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)));
  if (!plain) return std::nullopt;
  std::vector<int64_t> sizes{input.size(0), weight.size(0)};
  for (int64_t d = 0; d < spatial; ++d) {
    if (stride[d] < 1 || padding[d] < 0 || dilation[d] < 1) return std::nullopt;
    int64_t reach = dilation[d] * (weight.size(d + 2) - 1) + 1;
    int64_t span = input.size(d + 2) + 2 * padding[d] - reach;
    if (span < 0) return std::nullopt;
    sizes.push_back(span / stride[d] + 1);
  }
  return sizes;
}

// The CPU's output layout: contiguous for a contiguous input and weight (every backend); channels-last
// for a 2-d convolution with either operand channels-last, from oneDNN and the slow kernels alike (not
// from XNNPACK, which takes float32 ones oneDNN does not); nullopt otherwise.
std::optional<at::MemoryFormat> ConvolutionOutputFormat(const at::Tensor& input, const at::Tensor& weight,
                                                        at::IntArrayRef stride, at::IntArrayRef dilation,
                                                        int64_t groups) {
  auto contiguous = [](const at::Tensor& t) {
    return t.is_contiguous() && t.suggest_memory_format() == at::MemoryFormat::Contiguous;
  };
  if (contiguous(input) && contiguous(weight)) return at::MemoryFormat::Contiguous;
  const auto cl = at::MemoryFormat::ChannelsLast;
  bool channels_last = input.suggest_memory_format() == cl || weight.suggest_memory_format() == cl;
  if (channels_last && input.dim() == 4 &&
      (input.scalar_type() != at::kFloat || OneDnnConvolves(input, weight, stride, dilation, groups))) {
    return cl;
  }
  return std::nullopt;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> NativeLayerNormShapes(const at::Tensor& input,
                                                                     c10::SymIntArrayRef normalized_shape,
                                                                     const std::optional<at::Tensor>& weight,
                                                                     const std::optional<at::Tensor>& bias,
                                                                     double /*eps*/) {
  const at::Tensor& w = OrUndefined(weight);
  const at::Tensor& b = OrUndefined(bias);
  CheckLayerNormDtype(input);
  at::ScalarType stats = LayerNormStatsDtype(input, w, b);
  at::native::_check_layer_norm_inputs(input, C10_AS_INTARRAYREF_SLOW(normalized_shape), w, b);
  // Statistics keep the leading dims and 1 for each normalized one (layer_norm_with_mean_rstd_out).
  std::vector<int64_t> stat_shape(input.sizes().begin(), input.sizes().end());
  std::fill(stat_shape.end() - static_cast<int64_t>(normalized_shape.size()), stat_shape.end(), 1);
  return {MetaEmpty(input.sizes(), input.scalar_type()), MetaEmpty(stat_shape, stats), MetaEmpty(stat_shape, stats)};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> NativeLayerNormBackwardShapes(
    const at::Tensor& /*grad_out*/, const at::Tensor& input, c10::SymIntArrayRef normalized_shape,
    const at::Tensor& /*mean*/, const at::Tensor& /*rstd*/, const std::optional<at::Tensor>& weight,
    const std::optional<at::Tensor>& bias, std::array<bool, 3> output_mask) {
  const at::Tensor& w = OrUndefined(weight);
  const at::Tensor& b = OrUndefined(bias);
  CheckLayerNormDtype(input);
  at::native::_check_layer_norm_inputs(input, C10_AS_INTARRAYREF_SLOW(normalized_shape), w, b);
  // The CPU kernel allocates the parameters' gradients like the weight (the bias's like the bias).
  TORCH_CHECK((!output_mask[1] || w.defined()) && (!output_mask[2] || b.defined()),
              "a parameter's gradient without the parameter: left to the CPU kernel");
  auto like = [](bool wanted, const at::Tensor& t) {
    return wanted ? MetaEmpty(t.sizes(), t.scalar_type()) : at::Tensor();
  };
  return {like(output_mask[0], input), like(output_mask[1], w), like(output_mask[2], b)};
}

// ATen's own empty_like, called directly: through the dispatcher, the Meta key runs torch._refs'.
at::Tensor FillShapes(const at::Tensor& self, const at::Scalar& /*value*/) { return at::native::empty_like(self); }

at::Tensor FillShapes(const at::Tensor& self, const at::Tensor& value) {
  TORCH_CHECK(value.dim() == 0, "fill with a value that is not 0-dim: left to the CPU kernel");
  return at::native::empty_like(self);
}

at::Tensor ZeroShapes(const at::Tensor& self) { return at::native::empty_like(self); }

at::Tensor WhereShapes(const at::Tensor& condition, const at::Tensor& self, const at::Tensor& other) {
  // A uint8 condition is deprecated (the CPU kernel warns and converts it); other dtypes raise there.
  TORCH_CHECK(condition.scalar_type() == at::kBool, "where with a non-bool condition: left to the CPU kernel");
  at::ScalarType result_type = at::native::result_type(self, other);
  auto on_device = [&](const at::Tensor& t, at::ScalarType dtype) {
    if (t.is_meta() && t.scalar_type() == dtype) return t;
    return t.is_meta() ? at::native::empty_like(t, dtype) : MetaEmpty(t.sizes(), dtype);  // a host 0-dim value
  };
  at::Tensor out = MetaEmpty({0}, result_type);
  at::Tensor inputs[] = {on_device(condition, at::kBool), on_device(self, result_type), on_device(other, result_type)};
  at::TensorIteratorConfig()
      .check_all_same_dtype(false)
      .add_output(out)
      .add_const_input(inputs[0])
      .add_const_input(inputs[1])
      .add_const_input(inputs[2])
      .build();
  return out;
}

at::Tensor ScalarTensorShapes(const at::Scalar& s, std::optional<at::ScalarType> dtype,
                              std::optional<at::Layout> layout, std::optional<at::Device> /*device*/,
                              std::optional<bool> /*pin_memory*/) {
  TORCH_CHECK(layout.value_or(at::kStrided) == at::kStrided, "scalar_tensor of another layout: left to the CPU");
  at::ScalarType type = dtype.value_or(c10::typeMetaToScalarType(c10::get_default_dtype()));
  // The CPU kernel fills its result: a value the dtype cannot hold (1j as float) raises there.
  at::empty({}, at::TensorOptions().dtype(type)).fill_(s);
  return MetaEmpty({}, type);
}

at::Tensor ArangeShapes(const at::Scalar& start, const at::Scalar& end, const at::Scalar& step,
                        std::optional<at::ScalarType> dtype, std::optional<at::Layout> layout,
                        std::optional<at::Device> /*device*/, std::optional<bool> /*pin_memory*/) {
  TORCH_CHECK(layout.value_or(at::kStrided) == at::kStrided, "arange of another layout: left to the CPU");
  bool integral = !dtype && start.isIntegral(true) && end.isIntegral(true) && step.isIntegral(true);
  at::ScalarType type = integral ? at::kLong : dtype.value_or(c10::typeMetaToScalarType(c10::get_default_dtype()));
  at::Tensor result = MetaEmpty({0}, type);
  at::native::arange_out(start, end, step, result);  // checks the range and sizes the result, writes nothing on meta
  return result;
}

at::Tensor StackShapes(at::TensorList tensors, int64_t dim) {
  TORCH_CHECK(!tensors.empty(), "stack of no tensors: left to the CPU kernel");
  for (const at::Tensor& t : tensors) {
    TORCH_CHECK(t.sizes() == tensors[0].sizes(), "stack of tensors of different sizes: left to the CPU kernel");
  }
  int64_t d = c10::maybe_wrap_dim(dim, tensors[0].dim() + 1);
  if (d < tensors[0].dim()) {
    std::vector<int64_t> sizes = tensors[0].sizes().vec();
    sizes.insert(sizes.begin() + d, static_cast<int64_t>(tensors.size()));
    return at::meta::cat(tensors, d).view(sizes);
  }
  std::vector<at::Tensor> unsqueezed;
  unsqueezed.reserve(tensors.size());
  for (const at::Tensor& t : tensors) unsqueezed.push_back(t.unsqueeze(d));
  return at::meta::cat(unsqueezed, d);
}

std::tuple<at::Tensor, at::Tensor> FlashAttentionCpuShapes(const at::Tensor& query, const at::Tensor& key,
                                                           const at::Tensor& value, double dropout_p,
                                                           bool /*is_causal*/, const std::optional<at::Tensor>& attn_mask,
                                                           std::optional<double> /*scale*/) {
  // The CPU kernel's checks (attention.cpp); its errors are eager's there.
  at::ScalarType dtype = query.scalar_type();
  TORCH_CHECK(c10::isFloatingType(dtype) && query.dim() == 4 && key.dim() == 4 && value.dim() == 4 &&
                  dropout_p == 0.0 && query.size(3) == value.size(3) && key.size(3) == value.size(3),
              "flash attention the CPU kernel refuses: left to it");
  TORCH_CHECK(!attn_mask || ((attn_mask->scalar_type() == at::kFloat || attn_mask->scalar_type() == dtype) &&
                             (attn_mask->dim() == 2 || attn_mask->dim() == 4)),
              "flash attention mask the CPU kernel refuses: left to it");
  at::Tensor lse = MetaEmpty({query.size(0), query.size(2), query.size(1)}, at::toOpMathType(dtype));
  return {at::native::empty_like(query), lse.transpose(1, 2)};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> FlashAttentionCpuBackwardShapes(
    const at::Tensor& grad_out, const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
    const at::Tensor& /*out*/, const at::Tensor& /*logsumexp*/, double /*dropout_p*/, bool /*is_causal*/,
    const std::optional<at::Tensor>& /*attn_mask*/, std::optional<double> /*scale*/) {
  TORCH_CHECK(grad_out.defined() && query.dim() == 4 && key.dim() == 4 && value.dim() == 4,
              "flash attention backward the CPU kernel refuses: left to it");
  auto grad = [](const at::Tensor& t) {
    return MetaEmpty({t.size(0), t.size(2), t.size(1), t.size(3)}, t.scalar_type()).transpose(1, 2);
  };
  return {grad(query), grad(key), grad(value)};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> BatchNormFunctionalShapes(
    const at::Tensor& input, const std::optional<at::Tensor>& weight, const std::optional<at::Tensor>& bias,
    const at::Tensor& running_mean, const at::Tensor& running_var, bool training, double momentum, double eps) {
  const at::Tensor& w = OrUndefined(weight);
  const at::Tensor& b = OrUndefined(bias);
  if (!PlainBatchNorm(input, {&w, &b, &running_mean, &running_var})) {
    return at::_ops::_native_batch_norm_legit_functional::call(input, weight, bias, running_mean, running_var,
                                                               training, momentum, eps);
  }
  // The running statistics come back as fresh copies (the functional op clones them before updating).
  int64_t stats = training ? input.size(1) : 0;
  return {BatchNormOutput(input, {&w, &b, &running_mean, &running_var}), MetaEmpty({stats}, input.scalar_type()),
          MetaEmpty({stats}, input.scalar_type()), at::native::empty_like(running_mean),
          at::native::empty_like(running_var)};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> BatchNormNoTrainingShapes(
    const at::Tensor& input, const std::optional<at::Tensor>& weight, const std::optional<at::Tensor>& bias,
    const at::Tensor& running_mean, const at::Tensor& running_var, double momentum, double eps) {
  const at::Tensor& w = OrUndefined(weight);
  const at::Tensor& b = OrUndefined(bias);
  if (!PlainBatchNorm(input, {&w, &b, &running_mean, &running_var})) {
    return at::_ops::_native_batch_norm_legit_no_training::call(input, weight, bias, running_mean, running_var,
                                                                momentum, eps);
  }
  return {BatchNormOutput(input, {&w, &b, &running_mean, &running_var}), MetaEmpty({0}, input.scalar_type()),
          MetaEmpty({0}, input.scalar_type())};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> BatchNormBackwardShapes(
    const at::Tensor& grad_out, const at::Tensor& input, const std::optional<at::Tensor>& weight,
    const std::optional<at::Tensor>& running_mean, const std::optional<at::Tensor>& running_var,
    const std::optional<at::Tensor>& save_mean, const std::optional<at::Tensor>& save_invstd, bool train, double eps,
    std::array<bool, 3> output_mask) {
  const at::Tensor& w = OrUndefined(weight);
  const at::Tensor& stat = OrUndefined(train ? save_mean : running_mean);
  const at::Tensor& spread = OrUndefined(train ? save_invstd : running_var);
  if (!PlainBatchNorm(input, {&w, &stat, &spread}) || !stat.defined() || !spread.defined() ||
      grad_out.sizes() != input.sizes() || grad_out.scalar_type() != input.scalar_type()) {
    return at::_ops::native_batch_norm_backward::call(grad_out, input, weight, running_mean, running_var, save_mean,
                                                      save_invstd, train, eps, output_mask);
  }
  bool dense = DenseInAFormat(input) && DenseInAFormat(grad_out) &&
               input.suggest_memory_format() == grad_out.suggest_memory_format();
  auto per_channel = [&](bool wanted) { return wanted ? MetaEmpty({input.size(1)}, input.scalar_type()) : at::Tensor(); };
  return {output_mask[0] ? EmptyLike(input, dense ? DenseFormatOf(input) : input.suggest_memory_format()) : at::Tensor(),
          per_channel(output_mask[1]), per_channel(output_mask[2])};
}

at::Tensor ConvolutionShapes(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                             c10::SymIntArrayRef stride, c10::SymIntArrayRef padding, c10::SymIntArrayRef dilation,
                             bool transposed, c10::SymIntArrayRef output_padding, c10::SymInt groups) {
  const at::Tensor& b = OrUndefined(bias);
  bool same_dtype = at::isFloatingType(input.scalar_type()) && weight.scalar_type() == input.scalar_type() &&
                    (!b.defined() || b.scalar_type() == input.scalar_type());
  std::optional<std::vector<int64_t>> sizes;
  if (!transposed && same_dtype && input.numel() > 0) {
    sizes = ConvolutionSizes(input, weight, b, C10_AS_INTARRAYREF_SLOW(stride), C10_AS_INTARRAYREF_SLOW(padding),
                             C10_AS_INTARRAYREF_SLOW(dilation), groups.expect_int());
  }
  std::optional<at::MemoryFormat> format;
  if (sizes) format = ConvolutionOutputFormat(input, weight, C10_AS_INTARRAYREF_SLOW(stride),
                                              C10_AS_INTARRAYREF_SLOW(dilation), groups.expect_int());
  if (!format) {
    return at::_ops::convolution::call(input, weight, bias, stride, padding, dilation, transposed, output_padding,
                                       std::move(groups));
  }
  return at::empty(*sizes, at::TensorOptions().dtype(input.scalar_type()).device(c10::kMeta).memory_format(*format));
}

at::Tensor ReluShapes(const at::Tensor& self) {
  TORCH_CHECK(self.scalar_type() != at::kBool, "relu of bool: left to the CPU kernel");
  return at::meta::clamp_min(self, 0);
}

at::Tensor EmbeddingShapes(const at::Tensor& weight, const at::Tensor& indices, c10::SymInt /*padding_idx*/,
                           bool /*scale_grad_by_freq*/, bool /*sparse*/) {
  TORCH_CHECK(weight.dim() == 2 && (indices.scalar_type() == at::kLong || indices.scalar_type() == at::kInt),
              "embedding of a weight that is not 2-d or of non-integer indices: left to the CPU kernel");
  std::vector<int64_t> sizes(indices.sizes().begin(), indices.sizes().end());
  sizes.push_back(weight.size(1));
  return MetaEmpty(sizes, weight.scalar_type());
}

}  // namespace lazyplus
