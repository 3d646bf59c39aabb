#pragma once
// Lazy tensors: plain TensorImpls on the lazyplus device over LazyStorages. These helpers read a
// tensor as an IR value, write an IR value through a tensor (view or not), and make new tensors.
#include <ATen/core/Tensor.h>

#include "ir/node.h"
#include "tensor/lazy_storage.h"

namespace lazyplus {

bool IsLazy(const at::TensorBase& t);
LazyStorage& StorageOf(const at::TensorBase& t);

// The value of `t` (its sizes and dtype), read through its view of the storage.
Value ValueOf(const at::Tensor& t);
// The dims along which `t` repeats memory (stride 0, size > 1): an expanded tensor's.
std::vector<int64_t> RepeatedDims(const at::Tensor& t);
// `t` narrowed to the first element of each repeated dim: every memory location `t` views, once. Raises
// eager's overlap error where memory repeats otherwise (as_strided with overlapping strides).
at::Tensor FirstOfRepeats(const at::Tensor& t);
// Writes `v` (t's sizes and dtype) into the elements `t` views.
void WriteValue(const at::Tensor& t, Value v);
// Writes a host tensor (t's sizes and dtype, contiguous or with t's strides, owned by the callee from
// now on) into `t`; returns the buffer it uploaded (null for no elements).
BufferPtr WriteHost(const at::Tensor& t, at::Tensor host);
// An alias of `t` with its conjugate and negative bits set as given (the data is not touched).
at::Tensor WithMathBits(const at::Tensor& t, bool conj, bool neg);
// `t` with its conjugate/negative bits applied to the data: a lazy tensor without math bits.
at::Tensor ResolveMathBits(const at::Tensor& t);
// A new contiguous tensor holding `v`.
at::Tensor MakeLazyTensor(Value v, c10::Device device);
// A new tensor holding `v` with `strides`, eager's layout of the op's result: a permutation of the
// contiguous layout (transposed, column-major, channels-last), as meta kernels report it.
at::Tensor MakeLazyTensor(Value v, c10::Device device, c10::IntArrayRef strides);
// A new tensor with uninitialized storage.
at::Tensor EmptyLazy(c10::IntArrayRef sizes, c10::IntArrayRef strides, at::ScalarType dtype, c10::Device device);
// `t`'s elements on the host, syncing first if its storage is pending; a view of the device buffer,
// to be read only.
at::Tensor HostView(const at::Tensor& t, const std::string& reason);

}  // namespace lazyplus
