#include "tensor/step_recording.h"

#include <ATen/ops/as_strided.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "backend/backend.h"
#include "ir/core_nodes.h"
#include "runtime/graph_executor.h"
#include "support/metrics.h"
#include "tensor/lazy_tensor.h"
#include "tensor/pending.h"

namespace lazyplus {

std::atomic<bool> step_recording_active{false};

struct StepRecording::Notes {
  // The storage each graph input of its bytes was read from (weakly: a storage that dies during the
  // call leaves its recorded bytes); null for one never written (its bytes are anything, as in eager).
  std::unordered_map<const Node*, std::optional<c10::weak_intrusive_ptr<c10::StorageImpl>>> reads;
  std::string unreplayable;
  const SourceSite* unreplayable_at = nullptr;
  struct Draw {
    BufferPtr uploaded;  // held: its address identifies the graph input
    const c10::GeneratorImpl* generator;
    std::function<at::Tensor()> redraw;
  };
  std::vector<Draw> draws;
  bool guard_host_reads = false;
  // Syncs inside the call (with guard_host_reads): their graphs and the storages they computed.
  std::vector<SyncedGraph> segments;
  struct HostRead {
    size_t after;  // segments run before it
    c10::intrusive_ptr<c10::StorageImpl> storage;
    at::ScalarType dtype;
    std::vector<int64_t> sizes, strides;
    int64_t offset;
    at::Tensor bytes;
  };
  std::vector<HostRead> host_reads;
};

namespace {

// The recording in progress, if any: one at a time in the process (the hooks cannot tell which
// thread's call a read belongs to; the autograd engine reads on threads of its own).
std::mutex active_mutex;
std::shared_ptr<StepRecording::Notes> active_notes;

void MarkUnreplayable(StepRecording::Notes& notes, std::string what, const SourceSite* at = nullptr) {
  if (!notes.unreplayable.empty()) return;
  notes.unreplayable = std::move(what);
  notes.unreplayable_at = at;
}

std::optional<size_t> ArgOf(const c10::StorageImpl* storage, const std::vector<at::Tensor>& args) {
  for (size_t k = 0; k < args.size(); ++k) {
    if (args[k].storage().unsafeGetStorageImpl() == storage) return k;
  }
  return std::nullopt;
}

// Whether two host numbers or recorded device bytes are the same bytes of the same dtype and sizes.
bool SameBytes(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  at::Tensor x = a.cpu().contiguous(), y = b.cpu().contiguous();
  return std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0;
}

std::string Described(const Graph& graph, const Node* node) {
  if (graph.position.empty()) IndexPositions(const_cast<Graph&>(graph));
  std::string site = ShortText(node->source());
  return "`" + NodeText(graph, graph.position.at(node)) + "`" + (site.empty() ? "" : " recorded at " + site);
}

c10::intrusive_ptr<c10::StorageImpl> Strong(const at::Tensor& t) {
  return c10::intrusive_ptr<c10::StorageImpl>::reclaim_copy(t.storage().unsafeGetStorageImpl());
}

// Whether someone besides the replay (holding `storage` now) references the storage: a step whose
// parameter was replaced, or whose .grad was set to None, would otherwise write where nobody looks.
bool HeldElsewhere(const c10::intrusive_ptr<c10::StorageImpl>& storage) { return storage && storage.use_count() > 1; }

size_t NumBytes(const Shape& shape) { return static_cast<size_t>(shape.numel()) * c10::elementSize(shape.dtype); }

c10::intrusive_ptr<c10::StorageImpl> Locked(const std::optional<c10::weak_intrusive_ptr<c10::StorageImpl>>& weak) {
  return weak ? weak->lock() : c10::intrusive_ptr<c10::StorageImpl>();
}

// A new tensor viewing `storage`.
at::Tensor TensorOver(const c10::Storage& storage, at::ScalarType dtype, c10::IntArrayRef sizes, c10::IntArrayRef strides,
                int64_t offset) {
  auto t = at::detail::make_tensor<c10::TensorImpl>(c10::Storage(storage), c10::DispatchKeySet(c10::DispatchKey::PrivateUse1),
                                                    c10::scalarTypeToTypeMeta(dtype));
  t.unsafeGetTensorImpl()->set_sizes_and_strides(sizes, strides, offset);
  return t;
}

}  // namespace

StepRecording::StepRecording(c10::DeviceIndex device, bool guard_host_reads)
    : device_(device), notes_(std::make_shared<Notes>()) {
  notes_->guard_host_reads = guard_host_reads;
  SyncAll("step_inputs");  // the call's graph then holds its own work only
  std::lock_guard<std::mutex> lock(active_mutex);
  if (active_notes) {
    MarkUnreplayable(*active_notes, "another step recorded during it");
    MarkUnreplayable(*notes_, "it recorded during another step's recording");
    return;
  }
  active_notes = notes_;
  step_recording_active.store(true, std::memory_order_relaxed);
}

StepRecording::~StepRecording() { Stop(); }

void StepRecording::Stop() {
  std::lock_guard<std::mutex> lock(active_mutex);
  if (active_notes != notes_) return;
  active_notes.reset();
  step_recording_active.store(false, std::memory_order_relaxed);
}

void StepRecording::NoteRead(const Node* data, LazyStorage& storage) {
  std::lock_guard<std::mutex> lock(active_mutex);
  if (!active_notes) return;
  std::optional<c10::weak_intrusive_ptr<c10::StorageImpl>> weak;
  if (!storage.uninitialized()) weak.emplace(c10::intrusive_ptr<c10::StorageImpl>::unsafe_reclaim_from_nonowning(&storage));
  active_notes->reads.insert_or_assign(data, std::move(weak));
}

void StepRecording::NoteUnreplayable(const std::string& what, const CapturedSource& where) {
  std::lock_guard<std::mutex> lock(active_mutex);
  if (active_notes) MarkUnreplayable(*active_notes, what, where.site);
}

void StepRecording::NoteSync(const std::string& reason, const CapturedSource& where, const SyncedGraph& synced,
                             const std::vector<const Buffer*>& replaced) {
  std::lock_guard<std::mutex> lock(active_mutex);
  if (!active_notes) return;
  Notes& notes = *active_notes;
  if (!notes.guard_host_reads) return MarkUnreplayable(notes, "it synced (" + reason + ")", where.site);
  // A later read may differ at a replay, which then runs the Python instead: nothing may be written by then.
  for (const Buffer* b : replaced) {
    if (b) return MarkUnreplayable(notes, "it synced (" + reason + ") after writing a tensor it did not make", where.site);
  }
  if (!synced.graph) return MarkUnreplayable(notes, "a graph it synced failed to compile", where.site);
  notes.segments.push_back(synced);
}

void StepRecording::NoteHostRead(const std::string& reason, const CapturedSource& where) {
  std::lock_guard<std::mutex> lock(active_mutex);
  if (active_notes && !active_notes->guard_host_reads) {
    MarkUnreplayable(*active_notes, "it read a value on the host (" + reason + ")", where.site);
  }
}

void StepRecording::NoteHostValue(const at::Tensor& t, const at::Tensor& host) {
  std::lock_guard<std::mutex> lock(active_mutex);
  if (!active_notes || !active_notes->guard_host_reads) return;
  active_notes->host_reads.push_back({active_notes->segments.size(), Strong(t), t.scalar_type(), t.sizes().vec(),
                                      t.strides().vec(), t.storage_offset(), host.clone()});
}

void StepRecording::NoteDraw(BufferPtr uploaded, const at::Generator& gen, std::function<at::Tensor()> redraw) {
  std::lock_guard<std::mutex> lock(active_mutex);
  if (active_notes) active_notes->draws.push_back({std::move(uploaded), gen.unsafeGetGeneratorImpl(), std::move(redraw)});
}

std::shared_ptr<RecordedStep> StepRecording::Finish(const std::vector<at::Tensor>& args,
                                                    const std::vector<at::Tensor>& outputs,
                                                    const CapturedSource& where) {
  Stop();
  auto step = std::shared_ptr<RecordedStep>(new RecordedStep());
  step->device_ = device_;
  for (const auto& out : outputs) {
    if (!IsLazy(out) || out.device().index() != device_) {
      MarkUnreplayable(*notes_, "it returned a tensor on " + out.device().str());
    }
  }
  {
    auto lock = LockRecording();
    std::unordered_set<const c10::StorageImpl*> created;  // pending storages never computed before
    for (auto& s : PendingStorages(device_).Live()) {
      if (!static_cast<LazyStorage&>(*s).LastBuffer()) created.insert(s.get());
    }
    for (c10::DeviceIndex d = 0; d < DeviceCount(); ++d) {
      if (d != device_ && !PendingStorages(d).Live().empty()) {
        MarkUnreplayable(*notes_, "it recorded work on lazyplus:" + std::to_string(d) + " too");
      }
    }
    SyncedGraph last = LaunchPending(device_, "step", where);
    SyncAll("step", where);
    if (last.graph && notes_->unreplayable.empty()) {
      step->Describe(*notes_, last, created, args, outputs);
      if (step->unreplayable_.empty()) step->ReleaseFedInputs(*notes_);
    }
  }
  if (!notes_->unreplayable.empty()) {
    step->unreplayable_ = notes_->unreplayable;
    if (notes_->unreplayable_at) step->unreplayable_ += " at " + ShortText(notes_->unreplayable_at);
  }
  if (step->segments_.empty() && step->unreplayable_.empty()) {
    step->unreplayable_ = "it recorded no computation, or its graph failed to compile";
  }
  return step;
}

void RecordedStep::Describe(const StepRecording::Notes& notes, const SyncedGraph& last,
                            const std::unordered_set<const c10::StorageImpl*>& created,
                            const std::vector<at::Tensor>& args, const std::vector<at::Tensor>& outputs) {
  std::unordered_map<const Buffer*, size_t> drawn;
  for (const auto& d : notes.draws) {
    drawn.emplace(d.uploaded.get(), draws_.size());
    draws_.push_back({d.generator, Shape{d.uploaded->dtype(), {static_cast<int64_t>(d.uploaded->nbytes())}}, d.redraw});
  }
  std::unordered_map<const c10::StorageImpl*, std::pair<size_t, size_t>> earlier;  // storage -> segment, root
  // A storage's value as an input: an argument, an earlier segment's root, or the storage's bytes.
  auto source = [&](const c10::intrusive_ptr<c10::StorageImpl>& storage) -> Input {
    if (auto k = ArgOf(storage.get(), args)) return {Input::kArg, *k};
    auto e = earlier.find(storage.get());
    if (e != earlier.end()) return {Input::kEarlier, e->second.first, std::nullopt, e->second.second};
    return {Input::kStorage, 0, WeakStorage(storage)};
  };
  std::vector<SyncedGraph> synced = notes.segments;
  synced.push_back(last);
  for (size_t k = 0; k < synced.size(); ++k) {
    Segment segment{synced[k].graph, {}};
    for (const Parameter* p : segment.graph->parameters) {
      auto draw = &p->kind() == &DeviceData::kind ? drawn.find(static_cast<const DeviceData*>(p)->buffer().get())
                                                   : drawn.end();
      auto read = notes.reads.find(p);
      if (draw != drawn.end()) {
        segment.inputs.push_back({Input::kDrawn, draw->second});
      } else if (read != notes.reads.end() && !read->second) {
        segment.inputs.push_back({Input::kUninitialized});
      } else if (auto storage = read == notes.reads.end() ? nullptr : read->second->lock()) {
        segment.inputs.push_back(source(storage));
      } else {
        segment.inputs.push_back({Input::kRecorded});
      }
    }
    segments_.push_back(std::move(segment));
    if (k + 1 == synced.size()) break;
    for (size_t r = 0; r < synced[k].storages.size(); ++r) {
      const auto& storage = synced[k].storages[r];
      // Held here (the notes' segment, `synced`, the notes' reads of it): another holder would keep a
      // value a replay does not update.
      size_t held = 2 + std::count_if(notes.host_reads.begin(), notes.host_reads.end(),
                                      [&](const auto& read) { return read.storage == storage; });
      if (storage.use_count() > held) unreplayable_ = "it keeps a tensor it computed before a host read";
      earlier.emplace(storage.get(), std::make_pair(k, r));
    }
  }
  for (const auto& read : notes.host_reads) {
    reads_.push_back({read.after, source(read.storage), read.dtype, read.sizes, read.strides, read.offset, read.bytes});
  }
  std::unordered_set<const c10::StorageImpl*> returned;
  for (const auto& out : outputs) returned.insert(out.storage().unsafeGetStorageImpl());
  for (const auto& s : last.storages) {
    if (auto k = ArgOf(s.get(), args)) {
      results_.push_back({Result::kArg, *k});
    } else if (created.count(s.get()) && returned.count(s.get())) {
      results_.push_back({Result::kNew});
    } else {
      results_.push_back({Result::kStorage, 0, WeakStorage(s)});
    }
  }
  for (const auto& out : outputs) {
    Output o{Output::kStorage};
    const c10::StorageImpl* s = out.storage().unsafeGetStorageImpl();
    for (size_t r = 0; r < last.storages.size() && o.kind == Output::kStorage; ++r) {
      if (last.storages[r].get() == s) o = {Output::kRoot, r};
    }
    if (o.kind == Output::kStorage) {
      if (auto k = ArgOf(s, args)) {
        o = {Output::kArg, *k};
      } else if (earlier.count(s)) {
        unreplayable_ = "it returned a tensor it computed before a host read";
      } else {
        o.storage = WeakStorage(out.storage().getWeakStorageImpl());
      }
    }
    o.dtype = out.scalar_type();
    o.sizes = out.sizes().vec();
    o.strides = out.strides().vec();
    o.offset = out.storage_offset();
    outputs_.push_back(std::move(o));
  }
}

void RecordedStep::ReleaseFedInputs(const StepRecording::Notes& notes) {
  // Nothing is pending (Finish synced every device under the recording lock), so only storages'
  // caches hold these nodes besides the kept graphs.
  for (const auto& [node, storage] : notes.reads) {
    if (auto s = storage ? storage->lock() : nullptr) AsLazyStorage(s.get()).ForgetDataNode();
  }
  for (const Segment& segment : segments_) {
    for (size_t i = 0; i < segment.inputs.size(); ++i) {
      const Parameter* p = segment.graph->parameters[i];
      if (segment.inputs[i].kind != Input::kRecorded && &p->kind() == &DeviceData::kind) {
        static_cast<const DeviceData*>(p)->ReleaseBuffer();
      }
    }
  }
}

std::string RecordedStep::InputDifference(const RecordedStep& next, size_t segment, size_t i) const {
  const Input &a = segments_[segment].inputs[i], &b = next.segments_[segment].inputs[i];
  const Graph& graph = *next.segments_[segment].graph;
  const Parameter* p = graph.parameters[i];
  std::string what = "graph input " + Described(graph, p);
  if (a.kind != b.kind || a.index != b.index || a.root != b.root) return what + " comes from elsewhere";
  if (a.kind == Input::kStorage && a.storage->_unsafe_get_target() != b.storage->_unsafe_get_target()) {
    return what + " reads another tensor than in the call before (one the step made from host data or random "
                  "numbers, or one replaced)";
  }
  if (a.kind == Input::kRecorded &&
      !SameBytes(segments_[segment].graph->parameters[i]->host_value(), p->host_value())) {
    return what + " changes between calls (a Python number, random numbers, or host data moved to lazyplus in "
                  "the step: pass values that change as tensor arguments or tensors the step reads)";
  }
  return "";
}

std::string RecordedStep::Difference(const RecordedStep& next) const {
  if (!next.unreplayable_.empty()) return next.unreplayable_;
  if (!unreplayable_.empty()) return "the call before it was not replayable";
  if (segments_.size() != next.segments_.size()) return "it synced another number of times";
  for (size_t k = 0; k < segments_.size(); ++k) {
    const Graph &g = *segments_[k].graph, &h = *next.segments_[k].graph;
    if (g.hash != h.hash || g.size_classes != h.size_classes || g.nodes.size() != h.nodes.size()) {
      size_t i = 0;
      while (i < g.node_keys.size() && i < h.node_keys.size() && g.node_keys[i] == h.node_keys[i]) ++i;
      if (i < h.nodes.size()) return "it recorded another graph, first at " + Described(h, h.nodes[i]);
      return "it recorded another graph";
    }
  }
  if (draws_.size() != next.draws_.size()) return "it drew random numbers another number of times";
  for (size_t d = 0; d < draws_.size(); ++d) {
    if (draws_[d].generator != next.draws_[d].generator || !(draws_[d].shape == next.draws_[d].shape)) {
      return "its random draw " + std::to_string(d) + " is another one";
    }
  }
  for (size_t k = 0; k < segments_.size(); ++k) {
    for (size_t i = 0; i < segments_[k].inputs.size(); ++i) {
      std::string difference = InputDifference(next, k, i);
      if (!difference.empty()) return difference;
    }
  }
  if (reads_.size() != next.reads_.size()) return "it read values on the host another number of times";
  for (size_t r = 0; r < reads_.size(); ++r) {
    const HostRead &a = reads_[r], &b = next.reads_[r];
    bool same = a.after == b.after && a.source.kind == b.source.kind && a.source.index == b.source.index &&
                a.source.root == b.source.root && a.dtype == b.dtype && a.sizes == b.sizes &&
                a.strides == b.strides && a.offset == b.offset &&
                (a.source.kind != Input::kStorage ||
                 a.source.storage->_unsafe_get_target() == b.source.storage->_unsafe_get_target());
    if (!same) return "its host read " + std::to_string(r) + " reads another value";
  }
  const Graph& h = *next.segments_.back().graph;
  for (size_t r = 0; r < results_.size(); ++r) {
    const Result &a = results_[r], &b = next.results_[r];
    // A result storage may differ (a .grad made anew by each call): the replay writes the latest.
    if (a.kind != b.kind || a.index != b.index) {
      return "it wrote the value of " + Described(h, h.roots[r].node.get()) + " elsewhere";
    }
  }
  if (outputs_.size() != next.outputs_.size()) return "it returned another number of tensors";
  for (size_t o = 0; o < outputs_.size(); ++o) {
    const Output &a = outputs_[o], &b = next.outputs_[o];
    bool same = a.kind == b.kind && a.index == b.index && a.dtype == b.dtype && a.sizes == b.sizes &&
                a.strides == b.strides && a.offset == b.offset &&
                (a.kind != Output::kStorage || a.storage->_unsafe_get_target() == b.storage->_unsafe_get_target());
    if (!same) return "its output " + std::to_string(o) + " is another tensor";
  }
  return "";
}

bool RecordedStep::ReadsAsRecorded(const HostRead& read, const BufferPtr& buffer) {
  try {
    const Backend& backend = BackendFor(buffer->device().index());
    return SameBytes(backend.DownloadView(*buffer, read.dtype, read.sizes, read.strides, read.offset), read.bytes);
  } catch (const std::exception&) {
    return false;  // a failed value: running the step raises its error
  }
}

BufferPtr RecordedStep::Current(const Input& in, const std::vector<at::Tensor>& args,
                                const std::vector<std::vector<BufferPtr>>& earlier) const {
  if (in.kind == Input::kEarlier) return earlier.at(in.index).at(in.root);
  auto storage = in.kind == Input::kArg ? Strong(args.at(in.index)) : Locked(in.storage);
  return HeldElsewhere(storage) ? AsLazyStorage(storage.get()).CurrentBuffer() : nullptr;
}

std::optional<RecordedStep::Bound> RecordedStep::Bind(const std::vector<at::Tensor>& args) const {
  Bound b;
  b.inputs.resize(segments_.size());
  for (size_t k = 0; k < segments_.size(); ++k) {
    for (size_t i = 0; i < segments_[k].inputs.size(); ++i) {
      const Input& in = segments_[k].inputs[i];
      const Parameter* p = segments_[k].graph->parameters[i];
      if (in.kind == Input::kArg || in.kind == Input::kStorage) {
        BufferPtr buffer = Current(in, args, {});
        if (!buffer || buffer->nbytes() != NumBytes(p->shape())) return std::nullopt;
        b.inputs[k].push_back(std::move(buffer));
      } else if (in.kind == Input::kUninitialized) {  // any bytes, as eager's empty tensors hold
        b.inputs[k].push_back(BackendFor(device_).Allocate(NumBytes(p->shape())));
      } else {  // recorded, drawn later, or an earlier segment's: known when it runs
        b.inputs[k].push_back(&p->kind() == &DeviceData::kind ? static_cast<const DeviceData*>(p)->buffer() : nullptr);
      }
    }
  }
  for (const HostRead& read : reads_) {
    if (read.source.kind != Input::kEarlier && !Current(read.source, args, {})) return std::nullopt;
  }
  const Graph& last = *segments_.back().graph;
  for (size_t r = 0; r < results_.size(); ++r) {
    const Result& res = results_[r];
    c10::intrusive_ptr<c10::StorageImpl> target;
    if (res.kind != Result::kNew) {
      target = res.kind == Result::kArg ? Strong(args.at(res.index)) : Locked(res.storage);
      if (!HeldElsewhere(target) || target->nbytes() != NumBytes(last.roots[r].shape())) return std::nullopt;
    }
    b.replaced.push_back(target ? AsLazyStorage(target.get()).LastBuffer() : nullptr);
    b.targets.push_back(std::move(target));
  }
  for (const Output& o : outputs_) {
    if (o.kind == Output::kArg) b.returned.emplace_back(args.at(o.index).storage());
    if (o.kind == Output::kStorage) {
      auto s = Locked(o.storage);
      if (!s) return std::nullopt;
      b.returned.emplace_back(std::move(s));
    }
    if (o.kind == Output::kRoot) b.returned.emplace_back();  // known after the launch
  }
  return b;
}

bool RecordedStep::RunToLastSegment(Bound& b, const std::vector<at::Tensor>& args) const {
  // Every draw in the recorded order, so the generators advance as running the step would; restored
  // if a host read then differs.
  std::vector<std::pair<at::Generator, at::Tensor>> generator_states;
  if (!reads_.empty()) {
    for (const Draw& d : draws_) {
      at::Generator gen(c10::intrusive_ptr<c10::GeneratorImpl>::reclaim_copy(const_cast<c10::GeneratorImpl*>(d.generator)));
      generator_states.emplace_back(gen, gen.get_state());
    }
  }
  std::vector<BufferPtr> drawn;
  for (const Draw& d : draws_) drawn.push_back(BackendFor(device_).Upload(d.redraw().view(-1)));
  std::vector<std::vector<BufferPtr>> computed;  // per segment before the last: its roots
  size_t next_read = 0;
  for (size_t k = 0; k < segments_.size(); ++k) {
    for (; next_read < reads_.size() && reads_[next_read].after == k; ++next_read) {
      if (!ReadsAsRecorded(reads_[next_read], Current(reads_[next_read].source, args, computed))) {
        for (auto& [gen, state] : generator_states) gen.set_state(state);
        return false;
      }
    }
    for (size_t i = 0; i < segments_[k].inputs.size(); ++i) {
      const Input& in = segments_[k].inputs[i];
      if (in.kind == Input::kDrawn) b.inputs[k][i] = drawn[in.index];
      if (in.kind == Input::kEarlier) b.inputs[k][i] = computed.at(in.index).at(in.root);
    }
    if (k + 1 < segments_.size()) {
      computed.push_back(RelaunchGraph(device_, segments_[k].graph, std::move(b.inputs[k]), {}, "step_replay").outputs);
    }
  }
  return true;
}

std::vector<at::Tensor> RecordedStep::RunLastSegment(Bound& b) const {
  static auto* replays = metrics::GetCounter("StepReplays");
  const Graph& last = *segments_.back().graph;
  std::unordered_set<const Buffer*> read;
  for (const auto& b_inputs : b.inputs) {
    for (const auto& in : b_inputs) read.insert(in.get());
  }
  for (size_t r = 0; r < b.targets.size(); ++r) {
    if (b.targets[r] && !read.count(b.replaced[r])) {
      AsLazyStorage(b.targets[r].get()).DropContents();
      b.replaced[r] = nullptr;
    }
  }
  replays->Add();
  Launched launched = RelaunchGraph(device_, segments_.back().graph, std::move(b.inputs.back()), b.replaced, "step_replay");
  for (size_t r = 0; r < b.targets.size(); ++r) {
    if (!b.targets[r]) {
      at::Tensor bytes = EmptyLazy({static_cast<int64_t>(NumBytes(last.roots[r].shape()))}, {1}, at::kByte,
                                   c10::Device(kLazyplus, device_));
      b.targets[r] = Strong(bytes);
    }
    AsLazyStorage(b.targets[r].get()).SetBuffer(std::move(launched.outputs[r]));
  }
  std::vector<at::Tensor> outputs;
  for (size_t i = 0; i < outputs_.size(); ++i) {
    const Output& o = outputs_[i];
    if (o.kind == Output::kRoot) b.returned[i] = c10::Storage(b.targets[o.index]);
    outputs.push_back(TensorOver(b.returned[i], o.dtype, o.sizes, o.strides, o.offset));
  }
  return outputs;
}

std::pair<std::optional<std::vector<at::Tensor>>, std::string> RecordedStep::Replay(
    const std::vector<at::Tensor>& args) const {
  TORCH_INTERNAL_ASSERT(unreplayable_.empty() && !segments_.empty());
  auto lock = LockRecording();
  if (step_recording_active.load(std::memory_order_relaxed)) StepRecording::NoteUnreplayable("it replayed a step", {});
  if (!PendingStorages(device_).Live().empty()) SyncDevice(device_, "step_inputs");
  // Whatever can stop a replay is checked before the last segment runs: one that stops has written nothing.
  std::optional<Bound> bound = Bind(args);
  if (!bound) {
    return {std::nullopt, "a tensor the step reads or writes is no longer referenced outside it (a parameter "
                          "replaced, a .grad set to None: zero gradients inside the step)"};
  }
  if (!RunToLastSegment(*bound, args)) return {std::nullopt, "a value the step read on the host is not the recorded one"};
  return {RunLastSegment(*bound), ""};
}

}  // namespace lazyplus
