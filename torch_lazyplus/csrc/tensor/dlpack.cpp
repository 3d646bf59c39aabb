#include "tensor/dlpack.h"

#include <algorithm>
#include <mutex>
#include <vector>

#include "device/allocator.h"
#include "tensor/lazy_tensor.h"

namespace lazyplus {
namespace {

struct Publication {
  const char* begin;
  size_t nbytes;
  c10::weak_intrusive_ptr<c10::StorageImpl> storage;
  // The published bytes: while they live, no other buffer can take their address.
  at::Tensor buffer;
  int exports = 1;  // capsules not yet imported (each is imported once)
  bool Contains(const void* p) const { return p >= begin && static_cast<const char*>(p) < begin + nbytes; }
};

std::mutex publications_mutex;
std::vector<Publication> publications;

}  // namespace

void PublishForDLPack(const at::Tensor& t) {
  HostView(t, "DLPack export");  // computes t: the importer wraps the current address
  LazyStorage& storage = StorageOf(t);
  at::Tensor buffer = storage.Memory();  // the address the capsule carries
  c10::intrusive_ptr<c10::StorageImpl> owner = c10::intrusive_ptr<c10::StorageImpl>::reclaim_copy(&storage);
  std::lock_guard<std::mutex> lock(publications_mutex);
  Publication published{static_cast<const char*>(buffer.data_ptr()), buffer.nbytes(),
                        c10::weak_intrusive_ptr<c10::StorageImpl>(owner), buffer};
  for (Publication& p : publications) {
    if (p.begin == published.begin && p.nbytes == published.nbytes && p.storage.lock() == owner) {
      ++p.exports;  // the same bytes again (computed in place since)
      return;
    }
  }
  // A publication whose storage died has no importer left (a capsule keeps its tensor alive). One that
  // overlaps the new one had its bytes handed on (to another storage, or resized): an import still
  // holding its address fails clearly rather than take the wrong storage.
  std::erase_if(publications, [&](const Publication& p) {
    return p.storage.expired() || p.Contains(published.begin) || published.Contains(p.begin);
  });
  if (published.nbytes > 0) publications.push_back(std::move(published));
}

bool AdoptPublishedStorage(const at::TensorBase& t, bool consume) {
  const char* address = static_cast<const char*>(t.storage().data());
  std::lock_guard<std::mutex> lock(publications_mutex);
  auto it = std::find_if(publications.begin(), publications.end(),
                         [&](const Publication& p) { return p.Contains(address); });
  if (it == publications.end()) return false;
  auto storage = it->storage.lock();
  if (!storage) return false;
  int64_t offset_bytes = address - it->begin;
  TORCH_CHECK(offset_bytes % t.itemsize() == 0, "lazyplus: a DLPack import at byte ", offset_bytes,
              " of a published storage is not aligned to its ", t.itemsize(), "-byte elements");
  c10::TensorImpl* impl = t.unsafeGetTensorImpl();
  int64_t offset = t.storage_offset() + offset_bytes / static_cast<int64_t>(t.itemsize());
  impl->set_storage_keep_dtype(c10::Storage(std::move(storage)));
  impl->set_storage_offset(offset);
  if (consume && --it->exports == 0) publications.erase(it);
  return true;
}

}  // namespace lazyplus
