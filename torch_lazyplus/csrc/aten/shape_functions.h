#pragma once
// Shape inference in C++ for ops whose only meta kernel is PyTorch's Python one (codegen/ops.yaml,
// shape_functions). A Python meta call costs up to ~1 ms each time an op meets new metadata (layer_norm's
// `torch._refs` decomposition: 0.8 ms a call, its backward 1.4 ms on this Xeon), which made a
// transformer's first step several times its steady one. Each function returns what eager's CPU kernel
// returns (sizes, strides, dtypes) as meta tensors and raises where it raises on metadata. What it does
// not model it raises on too, so the op runs on the CPU (eager's result or error); batch norm and
// convolution instead pass the valid calls they do not model (mixed dtypes, other layouts) to the
// dispatcher's meta kernel, as before them, which costs no sync.
#include <ATen/core/Tensor.h>
#include <c10/core/Scalar.h>
#include <c10/core/SymIntArrayRef.h>

#include <array>
#include <optional>
#include <tuple>

namespace lazyplus {

std::tuple<at::Tensor, at::Tensor, at::Tensor> NativeLayerNormShapes(const at::Tensor& input,
                                                                     c10::SymIntArrayRef normalized_shape,
                                                                     const std::optional<at::Tensor>& weight,
                                                                     const std::optional<at::Tensor>& bias, double eps);
std::tuple<at::Tensor, at::Tensor, at::Tensor> NativeLayerNormBackwardShapes(
    const at::Tensor& grad_out, const at::Tensor& input, c10::SymIntArrayRef normalized_shape, const at::Tensor& mean,
    const at::Tensor& rstd, const std::optional<at::Tensor>& weight, const std::optional<at::Tensor>& bias,
    std::array<bool, 3> output_mask);

// fill and zero write every element of a new tensor like self (ATen's empty_like, format preserved).
at::Tensor FillShapes(const at::Tensor& self, const at::Scalar& value);
at::Tensor FillShapes(const at::Tensor& self, const at::Tensor& value);
at::Tensor ZeroShapes(const at::Tensor& self);
// where's CPU kernel (where_self_out) on meta tensors: both values converted to their result type, 0-dim
// host values moved to the device, one TensorIterator over condition and values lays out the result.
at::Tensor WhereShapes(const at::Tensor& condition, const at::Tensor& self, const at::Tensor& other);
// A 0-dim tensor of `dtype` (the default dtype when none), strided: where(cond, x, 0.0) makes one.
at::Tensor ScalarTensorShapes(const at::Scalar& s, std::optional<at::ScalarType> dtype,
                              std::optional<at::Layout> layout, std::optional<at::Device> device,
                              std::optional<bool> pin_memory);
// arange's length from ATen's own arange_out on a meta result (integral scalars without a dtype: int64).
at::Tensor ArangeShapes(const at::Scalar& start, const at::Scalar& end, const at::Scalar& step,
                        std::optional<at::ScalarType> dtype, std::optional<at::Layout> layout,
                        std::optional<at::Device> device, std::optional<bool> pin_memory);
// stack is cat along a new dim (ATen's CompositeExplicitAutograd kernel: cat then a view, or cat of
// unsqueezed tensors for a new last dim); cat's structured meta function lays the result out.
at::Tensor StackShapes(at::TensorList tensors, int64_t dim);
// Flash attention's CPU kernel: the output like the query (empty_like), logsumexp allocated (B, L, H) in
// the op-math dtype and returned as (B, H, L); the backward allocates each gradient (B, L, H, E) and
// returns it as (B, H, L, E).
std::tuple<at::Tensor, at::Tensor> FlashAttentionCpuShapes(const at::Tensor& query, const at::Tensor& key,
                                                           const at::Tensor& value, double dropout_p, bool is_causal,
                                                           const std::optional<at::Tensor>& attn_mask,
                                                           std::optional<double> scale);
std::tuple<at::Tensor, at::Tensor, at::Tensor> FlashAttentionCpuBackwardShapes(
    const at::Tensor& grad_out, const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
    const at::Tensor& out, const at::Tensor& logsumexp, double dropout_p, bool is_causal,
    const std::optional<at::Tensor>& attn_mask, std::optional<double> scale);
// Batch norm's CPU kernels (batch_norm_cpu, batch_norm_backward_cpu_template): outputs dense in the
// input's format (contiguous or channels-last) or like its suggested format, statistics and parameter
// gradients (C) in the input's dtype, (0) for evaluation. Other dtype mixes and parameter sizes go to
// the dispatcher's meta kernel, as before these functions.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> BatchNormFunctionalShapes(
    const at::Tensor& input, const std::optional<at::Tensor>& weight, const std::optional<at::Tensor>& bias,
    const at::Tensor& running_mean, const at::Tensor& running_var, bool training, double momentum, double eps);
std::tuple<at::Tensor, at::Tensor, at::Tensor> BatchNormNoTrainingShapes(
    const at::Tensor& input, const std::optional<at::Tensor>& weight, const std::optional<at::Tensor>& bias,
    const at::Tensor& running_mean, const at::Tensor& running_var, double momentum, double eps);
std::tuple<at::Tensor, at::Tensor, at::Tensor> BatchNormBackwardShapes(
    const at::Tensor& grad_out, const at::Tensor& input, const std::optional<at::Tensor>& weight,
    const std::optional<at::Tensor>& running_mean, const std::optional<at::Tensor>& running_var,
    const std::optional<at::Tensor>& save_mean, const std::optional<at::Tensor>& save_invstd, bool train, double eps,
    std::array<bool, 3> output_mask);
// A convolution, not transposed, (N, C_out, spatial...) by the usual size formula: contiguous from every
// CPU backend for a contiguous input and weight, channels-last for a 2-d one with either operand
// channels-last (oneDNN and the slow kernels). Other layouts and invalid arguments go to the dispatcher's
// meta kernel.
at::Tensor ConvolutionShapes(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                             c10::SymIntArrayRef stride, c10::SymIntArrayRef padding, c10::SymIntArrayRef dilation,
                             bool transposed, c10::SymIntArrayRef output_padding, c10::SymInt groups);
// relu is clamp_min(self, 0) on the CPU, which refuses bool.
at::Tensor ReluShapes(const at::Tensor& self);
// The rows of a 2-d weight an index tensor picks: the indices' sizes, then the weight's row, contiguous.
at::Tensor EmbeddingShapes(const at::Tensor& weight, const at::Tensor& indices, c10::SymInt padding_idx,
                           bool scale_grad_by_freq, bool sparse);

}  // namespace lazyplus
