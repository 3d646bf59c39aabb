#include "tensor/lazy_storage.h"

#include <mutex>

#include "device/allocator.h"
#include "device/device.h"
#include "ir/core_nodes.h"
#include "runtime/graph_executor.h"

namespace lazyplus {

// Storages with pending contents, in the order they became pending: the roots of a sync come in
// program order, so a loop that repeats the same ops builds graphs with the same hash. The list runs
// through the storages themselves, so recording an op allocates nothing here. A listed storage is
// held weakly (a storage nobody references is never computed): the weak reference keeps the object
// alive, not its pending graph, until it leaves the list.
class PendingList {
 public:
  void Add(LazyStorage* s) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (s->listed_) return;
    c10::raw::weak_intrusive_ptr::incref(s);
    s->listed_ = true;
    s->pending_prev_ = tail_;
    s->pending_next_ = nullptr;
    (tail_ ? tail_->pending_next_ : head_) = s;
    tail_ = s;
  }
  void Remove(LazyStorage* s) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!s->listed_) return;
      (s->pending_prev_ ? s->pending_prev_->pending_next_ : head_) = s->pending_next_;
      (s->pending_next_ ? s->pending_next_->pending_prev_ : tail_) = s->pending_prev_;
      s->listed_ = false;
    }
    c10::raw::weak_intrusive_ptr::decref(s);  // last: it may free `s`
  }
  std::vector<c10::intrusive_ptr<c10::StorageImpl>> Live() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<c10::intrusive_ptr<c10::StorageImpl>> live;
    for (LazyStorage* s = head_; s; s = s->pending_next_) {
      // Null once its last strong reference died: release_resources is waiting to unlist it.
      auto strong = c10::weak_intrusive_ptr<c10::StorageImpl>::reclaim_copy(s).lock();
      if (strong) live.push_back(std::move(strong));
    }
    return live;
  }

 private:
  std::mutex mutex_;
  LazyStorage* head_ = nullptr;
  LazyStorage* tail_ = nullptr;
};

namespace {

PendingList& Pending() {
  static auto* list = new PendingList();
  return *list;
}

std::recursive_mutex recording_mutex;

}  // namespace

LazyStorage::LazyStorage(size_t nbytes, c10::DataPtr data_ptr, c10::Allocator* allocator, bool resizable,
                         bool uninitialized)
    : c10::StorageImpl(use_byte_size_t(), static_cast<int64_t>(nbytes), std::move(data_ptr), allocator, resizable),
      uninitialized_(uninitialized) {}

void LazyStorage::release_resources() {
  Pending().Remove(this);
  pending_.reset();
  layout_.reset();
  data_node_.reset();
  c10::StorageImpl::release_resources();
}

Value LazyStorage::Contents(at::ScalarType dtype) {
  if (error_) std::rethrow_exception(error_);
  Value v;
  if (pending_) {
    v = *pending_;
  } else if (!data_node_ || data_node_->shape().dtype != dtype) {
    data_node_ = MakeNode<DeviceData>(HostBuffer(dtype));
    v = Value{data_node_};
  } else {
    v = Value{data_node_};
  }
  if (v.shape().dtype != dtype) v = Value{MakeNode<Bitcast>(v, dtype)};
  return v;
}

void LazyStorage::SetPending(Value value) {
  bool was_pending = pending_.has_value();
  pending_ = std::move(value);
  layout_.reset();
  data_node_.reset();
  error_ = nullptr;
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

void LazyStorage::Register() { Pending().Add(this); }

void LazyStorage::Materialize(const at::Tensor& host_value) {
  at::Tensor flat = host_value.contiguous().view(-1);
  // Storage views read the buffer from its first byte: a result that starts inside a larger buffer
  // (a graph output that is a slice of another value, dst.copy_(x[1:])) gets a buffer of its own.
  if (flat.storage_offset() != 0) flat = flat.clone();
  TORCH_INTERNAL_ASSERT(flat.nbytes() == nbytes(), "lazyplus: computed ", flat.nbytes(),
                        " bytes for a storage of ", nbytes());
  set_data_ptr_noswap(MakeDataPtr(std::move(flat), device()));
  error_ = nullptr;
  uninitialized_ = false;
  pending_.reset();
  layout_.reset();
  data_node_.reset();
  Pending().Remove(this);
}

void LazyStorage::Fail(std::exception_ptr error) {
  pending_.reset();
  layout_.reset();
  data_node_.reset();
  error_ = std::move(error);
  Pending().Remove(this);
}

at::Tensor LazyStorage::HostBuffer(at::ScalarType dtype) {
  TORCH_INTERNAL_ASSERT(!pending_);
  if (error_) std::rethrow_exception(error_);
  at::Tensor buffer = BufferOf(data_ptr());
  if (!buffer.defined()) {
    TORCH_CHECK(data_ptr().get() == nullptr || nbytes() == 0 || IsPlaceholder(data_ptr()),
                "lazyplus: storage memory of unknown origin");
    set_data_ptr_noswap(AllocateOn(nbytes(), device()));
    buffer = BufferOf(data_ptr());
  }
  if (buffer.scalar_type() == dtype) return buffer;
  TORCH_CHECK(nbytes() % c10::elementSize(dtype) == 0, "lazyplus: storage of ", nbytes(),
              " bytes cannot be viewed as ", dtype);
  return buffer.view(at::kByte).view(dtype);
}

void LazyStorage::Resize(size_t new_nbytes) {
  if (new_nbytes == nbytes()) return;
  std::optional<Value> old;
  if (!uninitialized_ && nbytes() > 0) old = Contents(at::kByte);  // captures the old buffer
  set_data_ptr_noswap(AllocateOn(new_nbytes, device()));
  set_nbytes(new_nbytes);
  if (old) SetPending(Value{MakeNode<Grow>(*old, static_cast<int64_t>(new_nbytes))});
}

LazyStorage& AsLazyStorage(c10::StorageImpl* storage) {
  auto* lazy = dynamic_cast<LazyStorage*>(storage);
  // PyTorch's from_blob (and so DLPack's import) makes a plain storage, bypassing the storage factory.
  TORCH_CHECK(lazy, "lazyplus: this tensor's memory was not allocated by lazyplus (from_blob or a DLPack "
              "capsule on the lazyplus device), so lazyplus cannot track its contents; move host data with "
              ".to(\"lazyplus\") instead");
  return *lazy;
}

std::unique_lock<std::recursive_mutex> LockRecording() { return std::unique_lock<std::recursive_mutex>(recording_mutex); }

void SyncAll(const std::string& reason) { SyncAll(reason, CaptureCallSite()); }

void SyncAll(const std::string& reason, const CapturedSource& where) {
  auto lock = LockRecording();
  auto live = Pending().Live();
  if (live.empty()) return;
  std::vector<LazyStorage*> storages;
  std::vector<Value> roots;
  std::vector<const void*> replaced;  // every synced storage gets new bytes
  for (auto& s : live) {
    auto& lazy = static_cast<LazyStorage&>(*s);
    storages.push_back(&lazy);
    roots.push_back(lazy.pending_value());
    replaced.push_back(BufferOf(lazy.data_ptr()).defined() ? lazy.data_ptr().get() : nullptr);
  }
  try {
    auto results = ExecuteGraph(roots, reason, replaced, where);
    for (size_t i = 0; i < storages.size(); ++i) storages[i]->Materialize(results[i]);
  } catch (const std::exception&) {
    // A failed program overwrote no input (see StepSpec::may_fail): compute each storage on its
    // own, so that only those depending on the failure fail.
    for (size_t i = 0; i < storages.size(); ++i) {
      try {
        storages[i]->Materialize(ExecuteGraph({roots[i]}, reason, {}, where).at(0));
      } catch (const std::exception&) {
        storages[i]->Fail(std::current_exception());
      }
    }
  }
}

size_t NumPendingStorages() {
  auto lock = LockRecording();
  return Pending().Live().size();
}

std::vector<Value> PendingValues() {
  auto lock = LockRecording();
  std::vector<Value> values;
  for (auto& s : Pending().Live()) {
    values.push_back(static_cast<LazyStorage&>(*s).pending_value());
  }
  return values;
}

}  // namespace lazyplus
