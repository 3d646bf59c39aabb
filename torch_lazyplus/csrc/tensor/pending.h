#pragma once
// The pending storages of the process and the sync that computes them. Recording and syncing exclude
// each other through one recursive lock.
#include <mutex>
#include <string>
#include <vector>

#include "device/device.h"
#include "ir/graph.h"
#include "tensor/lazy_storage.h"

namespace lazyplus {

// Storages with pending contents, in the order they became pending: the roots of a sync come in
// program order, so a loop that repeats the same ops builds graphs with the same hash. The list runs
// through the storages themselves, so recording an op allocates nothing here. A listed storage is
// held weakly (a storage nobody references is never computed): the weak reference keeps the object
// alive, not its pending graph, until it leaves the list.
class PendingList {
 public:
  void Add(LazyStorage* s);
  void Remove(LazyStorage* s);
  std::vector<c10::intrusive_ptr<c10::StorageImpl>> Live();

 private:
  std::mutex mutex_;
  LazyStorage* head_ = nullptr;
  LazyStorage* tail_ = nullptr;
};
// The pending storages of one lazyplus device: a sync of a device computes its list alone.
PendingList& PendingStorages(c10::DeviceIndex device);

// Recording an op (from reading its operands' values to writing its results) and a sync exclude
// each other, on every thread: a sync sees each op complete or not begun, so every value a recorded
// graph still reads is a root of the sync, and no buffer it reads is donated. Recursive: an op may
// sync (a CPU fallback), a sync may record (the autograd engine's thread is another matter: it
// records while the caller waits, holding nothing).
std::unique_lock<std::recursive_mutex> LockRecording();

// Launches the computation of every pending storage of `device` on its backend; each storage takes
// its output Buffer, maybe still in flight. `reason` names the sync point and `where` the user's line
// that caused it (captured here when not given). Raises nothing when a computation fails: the
// storages that depend on the failure hold the error and raise it when read, the others are computed. Values another device's storages hold
// pending are computed for this device's graph as well; those storages stay pending.
void SyncDevice(c10::DeviceIndex device, const std::string& reason);
void SyncDevice(c10::DeviceIndex device, const std::string& reason, const CapturedSource& where);
// SyncDevice's launch: the storages it computed, in graph root order, and the graph it ran (null when
// nothing was pending or the graph failed to build or compile).
struct SyncedGraph {
  std::vector<c10::intrusive_ptr<c10::StorageImpl>> storages;
  std::shared_ptr<Graph> graph;
};
SyncedGraph LaunchPending(c10::DeviceIndex device, const std::string& reason, const CapturedSource& where);
// Every device's (torch_lazyplus.sync()).
void SyncAll(const std::string& reason);
void SyncAll(const std::string& reason, const CapturedSource& where);
size_t NumPendingStorages();
// Pending values of all live storages (for IR text).
std::vector<Value> PendingValues();

}  // namespace lazyplus
