#include "tensor/lazy_tensor.h"

#include <ATen/EmptyTensor.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/ops/_conj_physical.h>
#include <ATen/ops/as_strided.h>
#include <ATen/ops/empty_strided.h>
#include <ATen/ops/neg.h>
#include <c10/util/strides.h>

#include <numeric>

#include "backend/backend.h"
#include "device/allocator.h"
#include "device/device.h"
#include "ir/core_nodes.h"
#include "tensor/dlpack.h"
#include "tensor/pending.h"
#include "tensor/step_recording.h"
#include "tensor/sync_reason.h"

namespace lazyplus {
namespace {

// Whether t's elements fill its storage, in any order of dims (row-major, transposed, channels-last).
bool FillsStorage(const at::Tensor& t, int64_t storage_numel) {
  return t.storage_offset() == 0 && t.numel() == storage_numel && t.is_non_overlapping_and_dense();
}

// ... in row-major order.
bool CoversStorage(const at::Tensor& t, int64_t storage_numel) {
  return t.is_contiguous() && FillsStorage(t, storage_numel);
}

int64_t StorageNumel(const at::Tensor& t) {
  return static_cast<int64_t>(t.storage().nbytes() / t.element_size());
}

// The storage holds `v` laid out with `strides` (a permutation of the contiguous ones).
void SetPendingInLayout(LazyStorage& storage, Value v, c10::IntArrayRef strides) {
  const Shape& shape = v.shape();
  // Dims in memory order (outermost first); the storage holds v.permute(order), contiguous.
  std::vector<int64_t> order(shape.sizes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return strides[a] > strides[b]; });
  c10::DimVector contiguous = c10::contiguous_strides(shape.sizes);
  std::vector<int64_t> sizes, from;
  for (int64_t d : order) {
    sizes.push_back(shape.sizes[d]);
    from.push_back(contiguous[d]);
  }
  Value memory_order{MakeNode<AsStrided>(v, sizes, std::move(from), 0)};
  storage.SetPending(std::move(memory_order), std::move(v), strides.vec());
}

c10::intrusive_ptr<c10::StorageImpl> NewStorage(size_t nbytes, c10::Device device) {
  return c10::make_intrusive<LazyStorage>(nbytes, AllocatePlaceholder(nbytes, device), DeviceAllocator(), true,
                                          /*uninitialized=*/true);
}

}  // namespace

std::vector<int64_t> RepeatedDims(const at::Tensor& t) {
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.stride(d) == 0 && t.size(d) > 1) dims.push_back(d);
  }
  return dims;
}

at::Tensor FirstOfRepeats(const at::Tensor& t) {
  at::Tensor narrowed = t;
  for (int64_t d : RepeatedDims(t)) narrowed = narrowed.narrow(d, 0, 1);
  TORCH_CHECK(at::has_internal_overlap(narrowed) != at::MemOverlap::Yes,
              "unsupported operation: more than one element of the written-to tensor refers to a single memory "
              "location. Please clone() the tensor before performing the operation.");
  return narrowed;
}

bool IsLazy(const at::TensorBase& t) { return t.defined() && t.device().type() == kLazyplus; }

LazyStorage& StorageOf(const at::TensorBase& t) {
  if (auto* lazy = LazyStorageOrNull(t.storage().unsafeGetStorageImpl())) return *lazy;
  // A plain storage: PyTorch's from_blob made it, importing through DLPack. An empty one holds nothing
  // to share (and no address was published for it).
  if (t.storage().nbytes() == 0) {
    t.unsafeGetTensorImpl()->set_storage_keep_dtype(c10::Storage(NewStorage(0, t.device())));
  } else {
    AdoptPublishedStorage(t, /*consume=*/false);
  }
  return AsLazyStorage(t.storage().unsafeGetStorageImpl());
}

Value ValueOf(const at::Tensor& t) {
  auto lock = LockRecording();  // the storage's state may be changing in a sync on another thread
  LazyStorage& storage = StorageOf(t);
  if (const Value* logical = storage.LogicalValue(t)) return *logical;
  Value base = storage.Contents(t.scalar_type());
  if (CoversStorage(t, base.shape().numel())) {
    if (c10::IntArrayRef(base.shape().sizes) == t.sizes()) return base;
    return Value{MakeNode<Reshape>(base, t.sizes())};
  }
  return Value{MakeNode<AsStrided>(base, t.sizes(), t.strides().vec(), t.storage_offset())};
}

namespace {

// A write through a view that repeats memory stores each memory location once: the tensor and the
// value narrowed to the first element of every repeated dim. Only fill_ and zero_ get here (see
// aten/repeated_writes.h for masked_fill_ and index_put_; the others raise first, as in eager), and
// they write one value everywhere.
std::pair<at::Tensor, Value> WithoutRepeats(const at::Tensor& t, Value v) {
  if (at::has_internal_overlap(t) != at::MemOverlap::Yes) return {t, std::move(v)};
  at::Tensor narrowed = FirstOfRepeats(t);
  auto contiguous = c10::contiguous_strides(t.sizes());
  Value first{MakeNode<AsStrided>(v, narrowed.sizes(), std::vector<int64_t>(contiguous.begin(), contiguous.end()), 0)};
  return {narrowed, first};
}

}  // namespace

void WriteValue(const at::Tensor& target, Value value) {
  TORCH_INTERNAL_ASSERT(c10::IntArrayRef(value.shape().sizes) == target.sizes() &&
                            value.shape().dtype == target.scalar_type(),
                        "lazyplus: writing a value of shape ", value.shape(), " into a tensor of ", target.sizes());
  if (target.numel() == 0) return;
  auto lock = LockRecording();
  auto [t, v] = WithoutRepeats(target, std::move(value));
  LazyStorage& storage = StorageOf(t);
  if (FillsStorage(t, StorageNumel(t)) && t.storage().nbytes() % t.element_size() == 0) {
    // The whole storage is rewritten: its old contents are not read (an optimizer's update of a
    // channels-last weight was scattered into a copy of them).
    if (t.is_contiguous()) {
      storage.SetPending(std::move(v));
    } else {
      SetPendingInLayout(storage, std::move(v), t.strides());
    }
    return;
  }
  Value base = storage.Contents(t.scalar_type());
  storage.SetPending(Value{MakeNode<AsStridedScatter>(base, std::move(v), t.strides().vec(), t.storage_offset())});
}

BufferPtr WriteHost(const at::Tensor& t, at::Tensor host) {
  if (t.numel() == 0) return nullptr;
  auto lock = LockRecording();
  bool same_layout = host.is_contiguous() ? t.is_contiguous() : host.strides() == t.strides();
  if (same_layout && FillsStorage(t, StorageNumel(t)) && t.storage().nbytes() == host.nbytes()) {
    // The host's memory holds the storage's bytes as they are (a channels-last batch included).
    BufferPtr buffer = BackendFor(t.device().index()).Upload(host.as_strided({host.numel()}, {1}));
    StorageOf(t).SetBuffer(buffer);
    return buffer;
  }
  BufferPtr buffer = BackendFor(t.device().index()).Upload(host.contiguous().view(-1));
  Value v{MakeNode<DeviceData>(buffer, host.scalar_type())};
  WriteValue(t, Value{MakeNode<Reshape>(v, t.sizes())});
  return buffer;
}

at::Tensor WithMathBits(const at::Tensor& t, bool conj, bool neg) {
  at::Tensor v = t.alias();
  v._set_conj(conj);
  v._set_neg(neg);
  return v;
}

at::Tensor ResolveMathBits(const at::Tensor& t) {
  if (!t.is_conj() && !t.is_neg()) return t;
  at::Tensor physical = WithMathBits(t, false, false);
  if (t.is_conj()) physical = at::_conj_physical(physical);
  if (t.is_neg()) physical = at::neg(physical);
  return physical;
}

at::Tensor EmptyLazy(c10::IntArrayRef sizes, c10::IntArrayRef strides, at::ScalarType dtype, c10::Device device) {
  size_t nbytes = at::detail::computeStorageNbytes(sizes, strides, c10::elementSize(dtype));
  auto tensor = at::detail::make_tensor<c10::TensorImpl>(c10::Storage(NewStorage(nbytes, device)),
                                                         c10::DispatchKeySet(c10::DispatchKey::PrivateUse1),
                                                         c10::scalarTypeToTypeMeta(dtype));
  tensor.unsafeGetTensorImpl()->set_sizes_and_strides(sizes, strides);
  return tensor;
}

at::Tensor MakeLazyTensor(Value v, c10::Device device) {
  const Shape& shape = v.shape();
  at::Tensor t = EmptyLazy(shape.sizes, c10::contiguous_strides(shape.sizes), shape.dtype, device);
  if (t.numel() > 0) StorageOf(t).SetPending(std::move(v));
  return t;
}

at::Tensor MakeLazyTensor(Value v, c10::Device device, c10::IntArrayRef strides) {
  const Shape& shape = v.shape();
  at::Tensor t = EmptyLazy(shape.sizes, strides, shape.dtype, device);
  SetPendingInLayout(StorageOf(t), std::move(v), strides);
  return t;
}

at::Tensor HostView(const at::Tensor& t, const std::string& reason) {
  if (step_recording_active.load(std::memory_order_relaxed)) {
    StepRecording::NoteHostRead(SyncReasonGuard::Current(reason), CaptureCallSite());  // before the lock: may take the GIL
  }
  auto lock = LockRecording();
  LazyStorage& storage = StorageOf(t);
  if (storage.pending()) SyncDevice(t.device().index(), SyncReasonGuard::Current(reason));
  if (t.numel() == 0) return at::empty_strided(t.sizes(), t.strides(), t.options().device(c10::kCPU));
  at::Tensor host = storage.HostView(t.scalar_type(), t.sizes(), t.strides(), t.storage_offset());
  if (step_recording_active.load(std::memory_order_relaxed)) StepRecording::NoteHostValue(t, host);
  return host;
}

}  // namespace lazyplus
