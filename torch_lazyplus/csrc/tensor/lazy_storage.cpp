#include "tensor/lazy_storage.h"

#include "backend/backend.h"
#include "device/allocator.h"
#include "device/device.h"
#include "ir/core_nodes.h"
#include "tensor/pending.h"
#include "tensor/step_recording.h"

namespace lazyplus {

LazyStorage::LazyStorage(size_t nbytes, c10::DataPtr data_ptr, c10::Allocator* allocator, bool resizable,
                         bool uninitialized)
    : c10::StorageImpl(use_byte_size_t(), static_cast<int64_t>(nbytes), std::move(data_ptr), allocator, resizable),
      uninitialized_(uninitialized) {}

void LazyStorage::release_resources() {
  PendingStorages(device().index()).Remove(this);
  pending_.reset();
  layout_.reset();
  data_node_.reset();
  buffer_.reset();
  c10::StorageImpl::release_resources();
}

Value LazyStorage::Contents(at::ScalarType dtype) {
  AttachIfReady();
  Value v;
  if (pending_) {
    v = *pending_;
  } else {
    if (!data_node_ || data_node_->shape().dtype != dtype) data_node_ = MakeNode<DeviceData>(CurrentBuffer(), dtype);
    v = Value{data_node_};
    if (step_recording_active.load(std::memory_order_relaxed)) StepRecording::NoteRead(data_node_.get(), *this);
  }
  if (v.shape().dtype != dtype) v = Value{MakeNode<Bitcast>(v, dtype)};
  return v;
}

void LazyStorage::SetPending(Value value) {
  bool was_pending = pending_.has_value();
  pending_ = std::move(value);
  layout_.reset();
  data_node_.reset();
  uninitialized_ = false;
  if (!was_pending) Register();
}

void LazyStorage::SetPending(Value memory_order, Value logical, std::vector<int64_t> strides) {
  SetPending(std::move(memory_order));
  layout_ = Layout{std::move(logical), std::move(strides)};
}

const Value* LazyStorage::LogicalValue(const at::Tensor& view) const {
  if (!layout_ || view.storage_offset() != 0 || view.strides() != layout_->strides) return nullptr;
  const Shape& shape = layout_->logical.shape();
  return shape.dtype == view.scalar_type() && c10::IntArrayRef(shape.sizes) == view.sizes() ? &layout_->logical : nullptr;
}

void LazyStorage::Register() { PendingStorages(device().index()).Add(this); }

void LazyStorage::SetBuffer(BufferPtr buffer) {
  TORCH_INTERNAL_ASSERT(buffer->nbytes() == nbytes(), "lazyplus: computed ", buffer->nbytes(),
                        " bytes for a storage of ", nbytes());
  buffer_ = std::move(buffer);
  uninitialized_ = false;
  pending_.reset();
  layout_.reset();
  data_node_.reset();
  PendingStorages(device().index()).Remove(this);
  AttachIfReady();
}

void LazyStorage::DropContents() {
  TORCH_INTERNAL_ASSERT(!pending_);
  buffer_.reset();
  layout_.reset();
  data_node_.reset();
  set_data_ptr_noswap(AllocatePlaceholder(nbytes(), device()));
}

const Buffer* LazyStorage::LastBuffer() const { return buffer_ ? buffer_.get() : BufferOf(data_ptr()).get(); }

BufferPtr LazyStorage::CurrentBuffer() {
  if (buffer_) return buffer_;
  BufferPtr buffer = BufferOf(data_ptr());
  if (buffer) return buffer;
  TORCH_CHECK(data_ptr().get() == nullptr || nbytes() == 0 || IsPlaceholder(data_ptr()),
              "lazyplus: storage memory of unknown origin");
  buffer = BackendFor(device().index()).Allocate(nbytes());
  set_data_ptr_noswap(MakeDataPtr(buffer));
  return buffer;
}

void LazyStorage::AttachIfReady() {
  // A failed buffer stays: graphs that read it fail the same way, and host reads raise its error.
  if (!buffer_ || !buffer_->ready().ready() || buffer_->error()) return;
  set_data_ptr_noswap(MakeDataPtr(std::move(buffer_)));
}

at::Tensor LazyStorage::HostView(at::ScalarType dtype, c10::IntArrayRef sizes, c10::IntArrayRef strides,
                                 int64_t offset) {
  return BackendFor(device().index()).DownloadView(*ComputedBuffer(), dtype, sizes, strides, offset);
}

at::Tensor LazyStorage::Memory() { return ComputedBuffer()->memory(); }

BufferPtr LazyStorage::ComputedBuffer() {
  TORCH_INTERNAL_ASSERT(!pending_);
  if (buffer_) {
    buffer_->ready().Wait();
    AttachIfReady();
  }
  return CurrentBuffer();
}

void LazyStorage::Resize(size_t new_nbytes) {
  if (new_nbytes == nbytes()) return;
  std::optional<Value> old;
  if (!uninitialized_ && nbytes() > 0) old = Contents(at::kByte);  // captures the old buffer
  buffer_.reset();
  set_data_ptr_noswap(AllocateOn(new_nbytes, device()));
  set_nbytes(new_nbytes);
  if (old) SetPending(Value{MakeNode<Grow>(*old, static_cast<int64_t>(new_nbytes))});
}

LazyStorage& AsLazyStorage(c10::StorageImpl* storage) {
  auto* lazy = LazyStorageOrNull(storage);
  // PyTorch's from_blob (and so DLPack's import) makes a plain storage, bypassing the storage factory.
  TORCH_CHECK(lazy, "lazyplus: this tensor's memory was not allocated by lazyplus (from_blob or a DLPack "
              "capsule on the lazyplus device), so lazyplus cannot track its contents; move host data with "
              ".to(\"lazyplus\") instead");
  return *lazy;
}

}  // namespace lazyplus
