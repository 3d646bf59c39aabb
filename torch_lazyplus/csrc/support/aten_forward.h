#pragma once
// Two exported ATen functions, declared here because their own headers (ATen/native/Resize.h,
// ATen/ScalarOps.h) include every ATen function's declaration: 5-7 s of compile time per file.
// A changed signature fails the link, not silently.
#include <ATen/core/Tensor.h>

namespace at {
namespace native {
// Resizes an out= argument as eager kernels do (warning when a non-empty output changes shape).
TORCH_API bool resize_output(const Tensor& output, IntArrayRef shape);
}  // namespace native
namespace detail {
// A 0-dim CPU tensor holding `s`, made without a dispatcher call.
TORCH_API Tensor scalar_tensor_static(const Scalar& s, std::optional<ScalarType> dtype_opt,
                                      std::optional<Device> device_opt);
}  // namespace detail
}  // namespace at
