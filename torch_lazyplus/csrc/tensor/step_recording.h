#pragma once
// torch_lazyplus.capture_step's core: one call of a step function recorded as one graph, to run again
// without the Python that recorded it. While a call records, every graph input read from a storage is
// noted with its storage, so a replay feeds the same compiled program that storage's current bytes
// (or the new call's argument) and writes each result where the recorded call wrote it. A call is
// replayable when the next call records the same step (RecordedStep::Difference), and never when it
// synced or read lazyplus data on the host: its Python then saw values a replay cannot see.
#include <ATen/core/Tensor.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "device/buffer.h"
#include "ir/graph.h"
#include "ir/source.h"
#include "tensor/pending.h"

namespace lazyplus {

class RecordedStep;

// Records one call on `device`: syncs everything pending when constructed (the call's graph is then
// the whole step) and notes what the call reads until Finish.
class StepRecording {
 public:
  explicit StepRecording(c10::DeviceIndex device);
  ~StepRecording();
  StepRecording(const StepRecording&) = delete;
  StepRecording& operator=(const StepRecording&) = delete;
  // Syncs the call's work as one graph, as torch_lazyplus.sync() would, and returns the recorded
  // step. `args`: the call's lazyplus tensor arguments; `outputs`: the tensors it returned; `where`:
  // the user's line that called the step.
  std::shared_ptr<RecordedStep> Finish(const std::vector<at::Tensor>& args, const std::vector<at::Tensor>& outputs,
                                       const CapturedSource& where);

  // Hooks for the storages and the sync, no-ops unless a call is recording: a storage's bytes entered
  // a graph as `data`; something happened at `where` that a replay cannot repeat (`what`: "it synced
  // (item)").
  static void NoteRead(const Node* data, LazyStorage& storage);
  static void NoteUnreplayable(const std::string& what, const CapturedSource& where);
  // Random numbers drawn on the host from `gen` and uploaded as `uploaded`; `redraw` draws the next
  // ones alike (a replay calls it where the recorded call drew).
  static void NoteDraw(BufferPtr uploaded, const at::Generator& gen, std::function<at::Tensor()> redraw);
  struct Notes;  // what a call read, and why it cannot be replayed (tensor/step_recording.cpp)

 private:
  void Stop();
  c10::DeviceIndex device_;
  std::shared_ptr<Notes> notes_;
};

// Whether any call is recording (one relaxed load: the hooks above run on every read of a storage).
extern std::atomic<bool> step_recording_active;

class RecordedStep {
 public:
  // Why this call cannot run again as recorded (it synced, read values on the host, ...); empty if it can.
  const std::string& unreplayable() const { return unreplayable_; }
  // Empty when `next`, the next call with arguments of the same layout, recorded the same step;
  // otherwise the first difference, in words.
  std::string Difference(const RecordedStep& next) const;
  // Runs the recorded step's program on `args` (laid out as the recorded call's) and the current
  // contents of the storages it read, writing its results where the recorded call wrote them; returns
  // the outputs as new tensors. None when a storage it reads or writes is no longer referenced
  // outside this step (a parameter replaced, a .grad set to None): the step must record again.
  std::optional<std::vector<at::Tensor>> Replay(const std::vector<at::Tensor>& args) const;
  const Graph* graph() const { return graph_.get(); }

 private:
  friend class StepRecording;
  using WeakStorage = c10::weak_intrusive_ptr<c10::StorageImpl>;
  // Where a graph parameter's value comes from at a replay.
  struct Input {
    // kRecorded: the recorded bytes or host number; kUninitialized: a storage never written (any
    // bytes); kDrawn: random numbers, drawn anew (`index`: the draw's).
    enum Kind { kArg, kStorage, kRecorded, kUninitialized, kDrawn } kind;
    size_t index = 0;  // kArg: the argument's; kDrawn: the draw's
    std::optional<WeakStorage> storage;
  };
  // Where a graph root's value goes: an argument's storage, a storage the step updates, or (kNew) a
  // storage the call created and returned, new at every replay.
  struct Result {
    enum Kind { kArg, kStorage, kNew } kind;
    size_t index = 0;  // kArg: the argument's
    std::optional<WeakStorage> storage;
  };
  // A returned tensor: a view of a root's storage, of an argument or of a storage the step did not write.
  struct Output {
    enum Kind { kRoot, kArg, kStorage } kind;
    size_t index = 0;
    std::optional<WeakStorage> storage;
    at::ScalarType dtype;
    std::vector<int64_t> sizes, strides;
    int64_t offset;
  };
  // Where the inputs, results and outputs of a recorded call's graph come from and go.
  void Describe(const SyncedGraph& synced, const StepRecording::Notes& notes,
                const std::unordered_set<const c10::StorageImpl*>& created, const std::vector<at::Tensor>& args,
                const std::vector<at::Tensor>& outputs);
  std::string InputDifference(const RecordedStep& next, size_t i) const;

  c10::DeviceIndex device_ = 0;
  std::shared_ptr<Graph> graph_;
  std::string unreplayable_;
  std::vector<Input> inputs_;
  std::vector<Result> results_;
  std::vector<Output> outputs_;
  struct Draw {
    const c10::GeneratorImpl* generator;
    Shape shape;
    std::function<at::Tensor()> redraw;
  };
  std::vector<Draw> draws_;  // in the order the call drew them
};

}  // namespace lazyplus
