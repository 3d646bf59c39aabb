// Kernels that make lazyplus a device: allocation, copies across devices, reading scalars, resizing,
// and the aliasing ops. Views reuse PyTorch's own device-agnostic kernels, since a view is just new
// sizes and strides over the same (lazy) storage.
#include <ATen/EmptyTensor.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/ops/_reshape_alias_native.h>
#include <ATen/ops/as_strided_native.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/unfold_native.h>
#include <ATen/ops/view_as_complex_native.h>
#include <ATen/ops/view_as_real_native.h>
#include <ATen/ops/view_native.h>
#include <c10/util/strides.h>
#include <torch/library.h>

#include "device/allocator.h"
#include "device/device.h"
#include "ir/core_nodes.h"
#include "runtime/explain.h"
#include "support/aten_forward.h"
#include "support/metrics.h"
#include "tensor/lazy_tensor.h"
#include "tensor/pending.h"

namespace lazyplus {
namespace {

c10::Device DeviceFrom(std::optional<c10::Device> device) {
  return MakeDevice(device.has_value() ? device->index() : -1);
}

at::Tensor Empty(c10::IntArrayRef size, std::optional<at::ScalarType> dtype, std::optional<at::Layout> layout,
                 std::optional<c10::Device> device, std::optional<bool> pin_memory,
                 std::optional<c10::MemoryFormat> memory_format) {
  TORCH_CHECK(!pin_memory.value_or(false), "Only dense CPU tensors can be pinned");
  TORCH_CHECK(layout.value_or(at::kStrided) == at::kStrided, "lazyplus supports only strided tensors");
  at::detail::check_size_nonnegative(size);
  auto t = EmptyLazy(size, c10::contiguous_strides(size), dtype.value_or(at::get_default_dtype_as_scalartype()),
                     DeviceFrom(device));
  auto format = memory_format.value_or(c10::MemoryFormat::Contiguous);
  if (format != c10::MemoryFormat::Contiguous) t.unsafeGetTensorImpl()->empty_tensor_restride(format);
  return t;
}

at::Tensor EmptyStrided(c10::IntArrayRef size, c10::IntArrayRef stride, std::optional<at::ScalarType> dtype,
                        std::optional<at::Layout> layout, std::optional<c10::Device> device,
                        std::optional<bool> pin_memory) {
  TORCH_CHECK(!pin_memory.value_or(false), "Only dense CPU tensors can be pinned");
  at::detail::check_size_nonnegative(size);
  return EmptyLazy(size, stride, dtype.value_or(at::get_default_dtype_as_scalartype()), DeviceFrom(device));
}

// Copies synced data to the host, timed for metrics and for the graph that computed it.
template <typename F>
auto ToHost(F&& copy) {
  static auto* time = metrics::GetCounter("TransferFromDeviceTimeNs");
  metrics::ScopedTimer timer(time);
  auto result = copy();
  explain::OnTransfer(timer.elapsed());
  return result;
}

// `src` as a value of dst's dtype and sizes (copy_ converts, broadcasts and resolves conj/neg bits).
Value CopySource(const at::Tensor& src, const at::Tensor& dst) {
  Value v = ValueOf(ResolveMathBits(WithMathBits(src, src.is_conj() != dst.is_conj(), src.is_neg() != dst.is_neg())));
  if (src.scalar_type() != dst.scalar_type()) v = Value{MakeNode<Convert>(v, dst.scalar_type())};
  if (src.sizes() != dst.sizes()) v = Value{MakeNode<Expand>(v, dst.sizes())};
  return v;
}

at::Tensor CopyFrom(const at::Tensor& self, const at::Tensor& dst, bool non_blocking) {
  if (IsLazy(dst)) at::assert_no_internal_overlap(dst);
  if (IsLazy(self) && IsLazy(dst)) {
    auto lock = LockRecording();
    WriteValue(dst, CopySource(self, dst));
  } else if (IsLazy(dst)) {
    // Host to device: snapshot now, as eager copies do; the host copy applies dst's bits.
    static auto* to_device_time = metrics::GetCounter("TransferToDeviceTimeNs");
    metrics::ScopedTimer timer(to_device_time);
    // In dst's layout where it is dense: a channels-last batch is uploaded as its bytes are.
    auto host_options = dst.options().device(c10::kCPU);
    at::Tensor host = dst.is_non_overlapping_and_dense() ? at::empty_strided(dst.sizes(), dst.strides(), host_options)
                                                          : at::empty(dst.sizes(), host_options);
    WithMathBits(host, dst.is_conj(), dst.is_neg()).copy_(self);
    WriteHost(dst, host);
  } else {
    at::Tensor host = WithMathBits(HostView(self, "copy_to_cpu"), self.is_conj(), self.is_neg());
    ToHost([&] { return const_cast<at::Tensor&>(dst).copy_(host, non_blocking); });
  }
  return dst;
}

at::Tensor CopyFromAndResize(const at::Tensor& self, const at::Tensor& dst) {
  if (IsLazy(dst)) {
    at::native::resize_output(dst, self.sizes());
  } else {
    const_cast<at::Tensor&>(dst).resize_(self.sizes());
  }
  return CopyFrom(self, dst, false);
}

at::Scalar LocalScalarDense(const at::Tensor& self) {
  at::Tensor host = HostView(self, "item");
  return ToHost([&] { return host.item(); });
}

const at::Tensor& Resize(const at::Tensor& self, c10::IntArrayRef size, std::optional<c10::MemoryFormat> format) {
  at::detail::check_size_nonnegative(size);
  auto* impl = self.unsafeGetTensorImpl();
  impl->set_sizes_contiguous(size);
  if (format.has_value() && *format != c10::MemoryFormat::Preserve) impl->empty_tensor_restride(*format);
  size_t needed = at::detail::computeStorageNbytes(size, impl->strides(), self.element_size(), self.storage_offset());
  if (needed > self.storage().nbytes()) StorageOf(self).Resize(needed);
  return self;
}

at::Tensor& SetStorage(at::Tensor& self, c10::Storage source, c10::SymInt offset, c10::SymIntArrayRef size,
                       c10::SymIntArrayRef stride) {
  TORCH_CHECK(source.device().type() == kLazyplus, "lazyplus: set_ expects a lazyplus storage, got ",
              source.device());
  auto sizes = C10_AS_INTARRAYREF_SLOW(size);
  const auto contiguous = c10::contiguous_strides(sizes);  // owns the strides that an empty `stride` means
  auto strides = stride.empty() ? c10::IntArrayRef(contiguous) : C10_AS_INTARRAYREF_SLOW(stride);
  auto* impl = self.unsafeGetTensorImpl();
  impl->set_storage_keep_dtype(std::move(source));
  impl->set_sizes_and_strides(sizes, strides, offset.expect_int());
  size_t needed = at::detail::computeStorageNbytes(sizes, strides, self.element_size(), offset.expect_int());
  if (needed > self.storage().nbytes()) StorageOf(self).Resize(needed);
  return self;
}

at::Tensor& SetSource(at::Tensor& self, c10::Storage source) {
  int64_t numel = static_cast<int64_t>(source.nbytes() / self.element_size());
  return SetStorage(self, source, 0, c10::SymIntArrayRef({c10::SymInt(numel)}), {});
}

at::Tensor& SetTensor(at::Tensor& self, const at::Tensor& source) {
  if (self.is_same(source)) return self;
  return SetStorage(self, source.storage(), source.sym_storage_offset(), source.sym_sizes(), source.sym_strides());
}

at::Tensor& SetEmpty(at::Tensor& self) {
  auto empty = EmptyLazy({0}, {1}, self.scalar_type(), self.device());
  return SetStorage(self, empty.storage(), 0, c10::SymIntArrayRef({c10::SymInt(0)}), {});
}

// Module.to() keeps each Parameter object (`param.data = moved`) when this holds, as it does between CPU
// and CUDA; otherwise it makes new Parameters, which would untie shared weights (GPT-2's lm_head and
// wte) and orphan an optimizer built before the move. Lazy tensors are plain strided TensorImpls too.
bool HasCompatibleShallowCopyType(const at::Tensor& self, const at::Tensor& from) {
  auto plain = [](const at::Tensor& t) {
    return t.layout() == at::kStrided && (t.is_cpu() || IsLazy(t)) && !t.key_set().has(c10::DispatchKey::Python);
  };
  return self.unsafeGetTensorImpl()->has_compatible_shallow_copy_type(from.key_set()) || (plain(self) && plain(from));
}

// A device has one stream (its programs run in launch order), and a buffer a launched program still reads
// is never reused before it ran: there is nothing to record. FSDP records its all-gather outputs.
void RecordStream(at::Tensor&, c10::Stream) {}

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("_has_compatible_shallow_copy_type", TORCH_FN(HasCompatibleShallowCopyType));
  m.impl("record_stream", TORCH_FN(RecordStream));
  m.impl("empty.memory_format", TORCH_FN(Empty));
  m.impl("empty_strided", TORCH_FN(EmptyStrided));
  m.impl("_copy_from", TORCH_FN(CopyFrom));
  m.impl("_copy_from_and_resize", TORCH_FN(CopyFromAndResize));
  m.impl("_local_scalar_dense", TORCH_FN(LocalScalarDense));
  m.impl("resize_", TORCH_FN(Resize));
  m.impl("set_.source_Storage_storage_offset", TORCH_FN(SetStorage));
  m.impl("set_.source_Storage", TORCH_FN(SetSource));
  m.impl("set_.source_Tensor", TORCH_FN(SetTensor));
  m.impl("set_", TORCH_FN(SetEmpty));
  m.impl("as_strided", TORCH_FN(at::native::as_strided_tensorimpl));
  m.impl("view", TORCH_FN(at::native::view));
  m.impl("_reshape_alias", TORCH_FN(at::native::_reshape_alias));
  m.impl("unfold", TORCH_FN(at::native::unfold));
  m.impl("view_as_real", TORCH_FN(at::native::view_as_real));
  m.impl("view_as_complex", TORCH_FN(at::native::view_as_complex));
}

// _copy_from applies conjugate/negative bits itself (CopySource). PyTorch's math-bit fallback would
// instead clone a dst that carries a bit, and the copy would land in the clone.
TORCH_LIBRARY_IMPL(aten, Conjugate, m) { m.impl("_copy_from", torch::CppFunction::makeFallthrough()); }
TORCH_LIBRARY_IMPL(aten, Negative, m) { m.impl("_copy_from", torch::CppFunction::makeFallthrough()); }

c10::intrusive_ptr<c10::StorageImpl> CreateStorage(c10::StorageImpl::use_byte_size_t, c10::SymInt size_bytes,
                                                   c10::DataPtr data_ptr, c10::Allocator* allocator,
                                                   bool resizable) {
  size_t nbytes = size_bytes.expect_int();
  if (data_ptr.get() == nullptr) data_ptr = AllocateOn(nbytes, MakeDevice());
  return c10::make_intrusive<LazyStorage>(nbytes, std::move(data_ptr), allocator, resizable);
}

void ResizeStorageBytes(c10::StorageImpl* storage, size_t nbytes) { AsLazyStorage(storage).Resize(nbytes); }

const bool storage_registered = [] {
  c10::SetStorageImplCreate(kLazyplus, &CreateStorage);
  SetStorageResizer(&ResizeStorageBytes);
  return true;
}();

}  // namespace
}  // namespace lazyplus
