#pragma once
// Shape inference in C++ for ops whose only meta kernel is PyTorch's Python one (codegen/ops.yaml,
// shape_functions). A Python meta call costs up to ~1 ms each time an op meets new metadata (layer_norm's
// `torch._refs` decomposition: 0.8 ms a call, its backward 1.4 ms on this Xeon), which made a
// transformer's first step several times its steady one. Each function returns what eager's CPU kernel
// returns (sizes, strides, dtypes) as meta tensors and raises where it raises on metadata; what it does
// not model it raises on too, so the op runs on the CPU (eager's result or error).
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
// relu is clamp_min(self, 0) on the CPU, which refuses bool.
at::Tensor ReluShapes(const at::Tensor& self);
// The rows of a 2-d weight an index tensor picks: the indices' sizes, then the weight's row, contiguous.
at::Tensor EmbeddingShapes(const at::Tensor& weight, const at::Tensor& indices, c10::SymInt padding_idx,
                           bool scale_grad_by_freq, bool sparse);

}  // namespace lazyplus
