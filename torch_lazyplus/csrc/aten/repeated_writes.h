#pragma once
// In-place ops that eager lets write through a view that repeats memory (an expanded tensor, stride 0),
// with a deprecation warning: each memory location ends up as eager's kernel leaves it. fill_ and zero_
// write one value everywhere and need nothing here (WriteValue stores each location once).
#include <ATen/core/List.h>
#include <ATen/core/Tensor.h>

namespace lazyplus {

// A location takes `value` where the mask is true at any element that views it.
at::Tensor& MaskedFillRepeated(at::Tensor& self, const at::Tensor& mask, const at::Scalar& value);
at::Tensor& MaskedFillRepeated(at::Tensor& self, const at::Tensor& mask, const at::Tensor& value);
// One value under a boolean mask is a masked fill, as in eager. Otherwise a location takes the last value
// written to it in the order of the indexing result, or with `accumulate` the sum of all of them, as
// eager's serial kernel leaves it.
at::Tensor& IndexPutRepeated(at::Tensor& self, const c10::List<std::optional<at::Tensor>>& indices,
                             const at::Tensor& values, bool accumulate, bool unsafe = false);

}  // namespace lazyplus
