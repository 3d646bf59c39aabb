#pragma once
// torch_lazyplus.capture_step's core: one call of a step function recorded as one graph, to run again
// without the Python that recorded it. While a call records, every graph input read from a storage is
// noted with its storage, so a replay feeds the same compiled program that storage's current bytes
// (or the new call's argument) and writes each result where the recorded call wrote it. A call is
// replayable when the next call records the same step (RecordedStep::Difference), and never when it
// synced or read lazyplus data on the host (its Python then saw values a replay cannot see), unless
// those reads are guards: a replay then computes the values read and replays only if they are the same.
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
// the whole step) and notes what the call reads until Finish. With `guard_host_reads`, a sync or host
// read inside the call splits it into segments instead of making it unreplayable (RecordedStep).
class StepRecording {
 public:
  StepRecording(c10::DeviceIndex device, bool guard_host_reads);
  ~StepRecording();
  StepRecording(const StepRecording&) = delete;
  StepRecording& operator=(const StepRecording&) = delete;
  // Syncs the call's work as one graph, as torch_lazyplus.sync() would, and returns the recorded
  // step. `args`: the call's lazyplus tensor arguments; `outputs`: the tensors it returned; `where`:
  // the user's line that called the step.
  std::shared_ptr<RecordedStep> Finish(const std::vector<at::Tensor>& args, const std::vector<at::Tensor>& outputs,
                                       const CapturedSource& where);

  // Hooks, no-ops unless a call is recording. A storage's bytes entered a graph as `data`:
  static void NoteRead(const Node* data, LazyStorage& storage);
  // Something happened at `where` that a replay cannot repeat (`what`: "it replayed a step"):
  static void NoteUnreplayable(const std::string& what, const CapturedSource& where);
  // A sync launched `synced`; `replaced` the buffers its storages held before (null: never computed):
  static void NoteSync(const std::string& reason, const CapturedSource& where, const SyncedGraph& synced,
                       const std::vector<const Buffer*>& replaced);
  // Python is about to read `t` on the host (before its sync), and read it as `host` (after):
  static void NoteHostRead(const std::string& reason, const CapturedSource& where);
  static void NoteHostValue(const at::Tensor& t, const at::Tensor& host);
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

// A recorded call: one graph per segment (a call with guarded host reads has one per sync before a
// read, then the last), where each graph input comes from, the values Python read between segments,
// and where the last graph's results go.
class RecordedStep {
 public:
  // Why this call cannot run again as recorded (it synced, read values on the host, ...); empty if it can.
  const std::string& unreplayable() const { return unreplayable_; }
  // Empty when `next`, the next call with arguments of the same layout, recorded the same step;
  // otherwise the first difference, in words.
  std::string Difference(const RecordedStep& next) const;
  // Runs the recorded step's programs on `args` (laid out as the recorded call's) and the current
  // contents of the storages it reads, writing the last one's results where the recorded call wrote
  // them; returns the outputs as new tensors. Otherwise none and why, having written nothing: a
  // storage it reads or writes is no longer referenced outside this step (a parameter replaced, a
  // .grad set to None), or a value Python read is not the recorded one: the step must run its Python.
  std::pair<std::optional<std::vector<at::Tensor>>, std::string> Replay(const std::vector<at::Tensor>& args) const;

 private:
  friend class StepRecording;
  using WeakStorage = c10::weak_intrusive_ptr<c10::StorageImpl>;
  // Where a value comes from at a replay.
  struct Input {
    // kRecorded: the recorded bytes or host number; kUninitialized: a storage never written (any
    // bytes); kDrawn: random numbers, drawn anew; kEarlier: a root of an earlier segment.
    enum Kind { kArg, kStorage, kRecorded, kUninitialized, kDrawn, kEarlier } kind;
    size_t index = 0;  // kArg: the argument's; kDrawn: the draw's; kEarlier: the segment's
    std::optional<WeakStorage> storage;
    size_t root = 0;  // kEarlier
  };
  struct Segment {
    std::shared_ptr<Graph> graph;
    std::vector<Input> inputs;  // per graph parameter
  };
  // A value Python read on the host after segment `after` (1 for the first) ran: its source and view.
  struct HostRead {
    size_t after;
    Input source;
    at::ScalarType dtype;
    std::vector<int64_t> sizes, strides;
    int64_t offset;
    at::Tensor bytes;  // what the recorded call read
  };
  // Where a root of the last graph goes: an argument's storage, a storage the step updates, or (kNew)
  // a storage the call created and returned, new at every replay.
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
  struct Draw {
    const c10::GeneratorImpl* generator;
    Shape shape;
    std::function<at::Tensor()> redraw;
  };
  // Where the segments' inputs, the reads, the results and the outputs come from and go.
  void Describe(const StepRecording::Notes& notes, const SyncedGraph& last,
                const std::unordered_set<const c10::StorageImpl*>& created, const std::vector<at::Tensor>& args,
                const std::vector<at::Tensor>& outputs);
  // Drops the recorded bytes of every graph input a replay feeds itself.
  void ReleaseFedInputs(const StepRecording::Notes& notes);
  std::string InputDifference(const RecordedStep& next, size_t segment, size_t i) const;
  // A replay's bindings: per segment its input buffers; per root of the last segment the storage it
  // goes to (null: a new one) and the buffer it replaces; per output its storage (empty: a root's).
  struct Bound {
    std::vector<std::vector<BufferPtr>> inputs;
    std::vector<c10::intrusive_ptr<c10::StorageImpl>> targets;
    std::vector<const Buffer*> replaced;
    std::vector<c10::Storage> returned;
  };
  // None when a storage the step reads or writes is referenced by nothing else any more.
  std::optional<Bound> Bind(const std::vector<at::Tensor>& args) const;
  // Draws the random numbers and runs every segment but the last, checking the host reads between
  // them; false (generators restored) when a value read is not the recorded one.
  bool RunToLastSegment(Bound& b, const std::vector<at::Tensor>& args) const;
  // Runs the last segment and writes its results; returns the outputs.
  std::vector<at::Tensor> RunLastSegment(Bound& b) const;
  // Whether the view `read` takes of `buffer` holds the bytes the recorded call read.
  static bool ReadsAsRecorded(const HostRead& read, const BufferPtr& buffer);
  // The buffer holding `in`'s value now (kArg, kStorage, kEarlier), or null when its storage is gone.
  BufferPtr Current(const Input& in, const std::vector<at::Tensor>& args,
                    const std::vector<std::vector<BufferPtr>>& earlier) const;

  c10::DeviceIndex device_ = 0;
  std::string unreplayable_;
  std::vector<Segment> segments_;  // in order; the last one's roots are the results
  std::vector<HostRead> reads_;
  std::vector<Result> results_;
  std::vector<Output> outputs_;
  std::vector<Draw> draws_;  // in the order the call drew them
};

}  // namespace lazyplus
