#pragma once
// A lazyplus storage holds either computed bytes (a device Buffer, maybe still being filled by a
// program in flight) or a pending IR value that will produce them at the next sync. Its DataPtr is
// always memory of its size, so raw data_ptr() users (torch.save's bookkeeping) see valid memory: the
// computed buffer's once it is ready, a placeholder before. Tensors are plain TensorImpls over these
// storages, so PyTorch's own view kernels give lazy tensors eager aliasing: a write through any view
// replaces the pending value of the shared storage.
#include <c10/core/StorageImpl.h>

#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <typeinfo>

#include "device/buffer.h"
#include "ir/node.h"

namespace lazyplus {

class LazyStorage final : public c10::StorageImpl {
 public:
  LazyStorage(size_t nbytes, c10::DataPtr data_ptr, c10::Allocator* allocator, bool resizable,
              bool uninitialized = false);
  // Runs when the last strong reference dies; the pending list's weak reference keeps the object
  // (and would keep its pending graph) alive until then, so this is where it leaves the list.
  void release_resources() override;

  bool pending() const { return pending_.has_value(); }
  const Value& pending_value() const { return *pending_; }
  // The whole storage as a value of `dtype`: the pending value, or the materialized bytes as a graph
  // input. Its sizes are the "natural" sizes the storage was last written with.
  Value Contents(at::ScalarType dtype);
  void SetPending(Value value);
  // Pending contents in a permuted memory order (an op whose eager result is, say, column-major),
  // together with `logical`, the same elements as the tensor of that layout (`strides`, offset 0)
  // reads them: reading through that layout then gives `logical` back instead of a view node.
  void SetPending(Value memory_order, Value logical, std::vector<int64_t> strides);
  // The logical value recorded by SetPending when `view` is the tensor of that layout, or null.
  const Value* LogicalValue(const at::Tensor& view) const;
  // Takes computed contents: a buffer of the storage's size, maybe still in flight, maybe failed
  // (every host read then raises its error again: same class, same message).
  void SetBuffer(BufferPtr buffer);
  // The buffer of the computed contents (the storage must not be pending), maybe still in flight;
  // allocated if there is none.
  BufferPtr CurrentBuffer();
  // The buffer of the last computed contents (a pending value may read it), or null.
  const Buffer* LastBuffer() const;
  // The computed elements a strided view (as `dtype`) reads, on the host in that view (the storage
  // must not be pending); waits for a buffer in flight and raises the error that left it uncomputed.
  at::Tensor HostView(at::ScalarType dtype, c10::IntArrayRef sizes, c10::IntArrayRef strides, int64_t offset);
  // The computed bytes where the device keeps them (host memory on the CPU target), flat; waits as
  // HostView.
  at::Tensor Memory();
  // The computed bytes are about to be replaced by a program that does not read them (a replayed
  // step writing a .grad): their memory goes back now, and a placeholder of the size holds the place
  // until SetBuffer. Without it a replay held each gradient twice (GPT-2 d=768: +250 MB).
  void DropContents();
  // Forgets the graph input node made for the computed bytes (the next read makes another), so that
  // a kept graph may release that node's buffer (capture_step).
  void ForgetDataNode() { data_node_.reset(); }
  // Never written: its bytes are whatever the memory held.
  bool uninitialized() const { return uninitialized_; }
  // Grows or shrinks the byte size, keeping the contents (resize_).
  void Resize(size_t nbytes);

 private:
  friend class PendingList;
  void Register();
  // CurrentBuffer once the buffer in flight is ready.
  BufferPtr ComputedBuffer();
  // Moves a ready computed buffer into the DataPtr (a failed one stays).
  void AttachIfReady();
  std::optional<Value> pending_;
  BufferPtr buffer_;  // computed contents not yet in the DataPtr (in flight when last looked)
  struct Layout {
    Value logical;
    std::vector<int64_t> strides;
  };
  std::optional<Layout> layout_;  // set with a permuted pending value
  NodePtr data_node_;  // graph input for the materialized bytes, made on first read
  bool uninitialized_;  // never written: a resize need not keep the old contents
  // Links of the list of pending storages (tensor/pending.cpp).
  LazyStorage* pending_prev_ = nullptr;
  LazyStorage* pending_next_ = nullptr;
  bool listed_ = false;
};

// The storage as a LazyStorage, or null for a plain one. A type comparison (LazyStorage is final):
// recording asks it of every operand and result, and a dynamic_cast cost 1.6 % of recording an op.
inline LazyStorage* LazyStorageOrNull(c10::StorageImpl* storage) {
  return storage && typeid(*storage) == typeid(LazyStorage) ? static_cast<LazyStorage*>(storage) : nullptr;
}
LazyStorage& AsLazyStorage(c10::StorageImpl* storage);

}  // namespace lazyplus
