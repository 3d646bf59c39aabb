#include "tensor/pending.h"

#include "runtime/graph_executor.h"
#include "tensor/step_recording.h"

namespace lazyplus {

PendingList& PendingStorages(c10::DeviceIndex device) {
  static auto* lists = new PendingList[DeviceCount()];
  TORCH_INTERNAL_ASSERT(device >= 0 && device < DeviceCount(), "lazyplus: no device ", static_cast<int>(device));
  return lists[device];
}

void PendingList::Add(LazyStorage* s) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (s->listed_) return;
  c10::raw::weak_intrusive_ptr::incref(s);
  s->listed_ = true;
  s->pending_prev_ = tail_;
  s->pending_next_ = nullptr;
  (tail_ ? tail_->pending_next_ : head_) = s;
  tail_ = s;
}

void PendingList::Remove(LazyStorage* s) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!s->listed_) return;
    (s->pending_prev_ ? s->pending_prev_->pending_next_ : head_) = s->pending_next_;
    (s->pending_next_ ? s->pending_next_->pending_prev_ : tail_) = s->pending_prev_;
    s->listed_ = false;
  }
  c10::raw::weak_intrusive_ptr::decref(s);  // last: it may free `s`
}

std::vector<c10::intrusive_ptr<c10::StorageImpl>> PendingList::Live() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<c10::intrusive_ptr<c10::StorageImpl>> live;
  for (LazyStorage* s = head_; s; s = s->pending_next_) {
    // Null once its last strong reference died: release_resources is waiting to unlist it.
    auto strong = c10::weak_intrusive_ptr<c10::StorageImpl>::reclaim_copy(s).lock();
    if (strong) live.push_back(std::move(strong));
  }
  return live;
}

namespace {

std::recursive_mutex recording_mutex;

}  // namespace

std::unique_lock<std::recursive_mutex> LockRecording() { return std::unique_lock<std::recursive_mutex>(recording_mutex); }

void SyncDevice(c10::DeviceIndex device, const std::string& reason) {
  SyncDevice(device, reason, CaptureCallSite());
}

void SyncDevice(c10::DeviceIndex device, const std::string& reason, const CapturedSource& where) {
  LaunchPending(device, reason, where);
}

SyncedGraph LaunchPending(c10::DeviceIndex device, const std::string& reason, const CapturedSource& where) {
  auto lock = LockRecording();
  SyncedGraph synced{PendingStorages(device).Live(), nullptr};
  if (synced.storages.empty()) return synced;
  std::vector<Value> roots;
  std::vector<const Buffer*> replaced;  // every synced storage gets new bytes
  for (auto& s : synced.storages) {
    auto& lazy = static_cast<LazyStorage&>(*s);
    roots.push_back(lazy.pending_value());
    replaced.push_back(lazy.LastBuffer());
  }
  try {
    GraphLaunch launch = ExecuteGraph(device, std::move(roots), reason, replaced, where);
    synced.graph = std::move(launch.graph);
    for (size_t i = 0; i < synced.storages.size(); ++i) {
      static_cast<LazyStorage&>(*synced.storages[i]).SetBuffer(std::move(launch.launched.outputs[i]));
    }
  } catch (const std::exception&) {
    // Building or compiling the graph failed (running it fails only the values that depend on the
    // failure): nothing ran, and every storage keeps the error.
    for (auto& s : synced.storages) {
      auto& lazy = static_cast<LazyStorage&>(*s);
      lazy.SetBuffer(Buffer::Failed(lazy.device(), at::kByte, lazy.nbytes(), std::current_exception()));
    }
  }
  if (step_recording_active.load(std::memory_order_relaxed)) StepRecording::NoteSync(reason, where, synced, replaced);
  return synced;
}

void SyncAll(const std::string& reason) { SyncAll(reason, CaptureCallSite()); }

void SyncAll(const std::string& reason, const CapturedSource& where) {
  for (c10::DeviceIndex d = 0; d < DeviceCount(); ++d) SyncDevice(d, reason, where);
}

size_t NumPendingStorages() { return PendingValues().size(); }

std::vector<Value> PendingValues() {
  auto lock = LockRecording();
  std::vector<Value> values;
  for (c10::DeviceIndex d = 0; d < DeviceCount(); ++d) {
    for (auto& s : PendingStorages(d).Live()) values.push_back(static_cast<LazyStorage&>(*s).pending_value());
  }
  return values;
}

}  // namespace lazyplus
