#include "backend/step_program.h"

#include <ATen/Context.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <ATen/record_function.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "support/metrics.h"

namespace lazyplus {
namespace {

// Drops the steps whose outputs no later step reads and no root is (such as a reshape a region reads
// through), last to first so that their inputs' producers can go too.
std::vector<StepSpec> Prune(const Graph& g, std::vector<StepSpec> specs) {
  std::set<std::pair<const Node*, size_t>> used;
  for (const auto& r : g.roots) used.emplace(r.node.get(), r.index);
  std::vector<bool> keep(specs.size());
  for (size_t i = specs.size(); i-- > 0;) {
    for (const auto& o : specs[i].outputs) keep[i] = keep[i] || used.count({o.node, o.index});
    if (!keep[i]) continue;
    for (const auto& in : specs[i].inputs) used.emplace(in.node, in.index);
  }
  std::vector<StepSpec> kept;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (keep[i]) kept.push_back(std::move(specs[i]));
  }
  return kept;
}

// Donated memory and the live slots that view it: a slot's memory may be overwritten by the step
// that reads it last when no other live slot views that memory.
class Donations {
 public:
  explicit Donations(size_t num_slots) : memory_of_(num_slots, nullptr) {}

  void Track(size_t slot, const at::Tensor& t) {
    memory_of_[slot] = t.storage().data_ptr().get();
    views_[memory_of_[slot]]++;
  }
  void Produced(size_t slot, const at::Tensor& t) {
    if (views_.empty() || !t.defined() || !t.has_storage()) return;
    auto it = views_.find(t.storage().data_ptr().get());
    if (it == views_.end()) return;
    memory_of_[slot] = it->first;
    it->second++;
  }
  void Released(size_t slot) {
    if (memory_of_[slot]) views_[memory_of_[slot]]--;
  }
  // Whether each of `slots` may be overwritten by the step after which `dying` die: all the live
  // views of its memory die with it. The dying views are counted once per step, not once per input:
  // per input (inputs x dying), a captured AdamW step over 200 parameters of 64 floats took 3.4-4.6
  // ms to run, 1.6-1.7 ms counted once (its regions read and write every parameter of one shape).
  void Reusable(const std::vector<size_t>& slots, const std::vector<size_t>& dying, std::vector<bool>& out) {
    dying_memory_.clear();
    for (size_t s : dying) {
      if (memory_of_[s]) dying_memory_.push_back(memory_of_[s]);
    }
    std::sort(dying_memory_.begin(), dying_memory_.end());
    out.clear();
    for (size_t s : slots) {
      const void* memory = memory_of_[s];
      auto [first, last] = std::equal_range(dying_memory_.begin(), dying_memory_.end(), memory);
      out.push_back(memory && last - first == views_.at(memory));
    }
  }

 private:
  std::vector<const void*> memory_of_;
  std::unordered_map<const void*, int64_t> views_;
  std::vector<const void*> dying_memory_;  // scratch of Reusable
};

// Writes `s` as its own type at `slot`; false for a type a host number never has.
bool WriteScalar(const at::Scalar& s, void* slot) {
  switch (s.type()) {
    case at::kDouble: *static_cast<double*>(slot) = s.toDouble(); return true;
    case at::kLong: *static_cast<int64_t*>(slot) = s.toLong(); return true;
    case at::kBool: *static_cast<bool*>(slot) = s.toBool(); return true;
    case at::kComplexDouble: *static_cast<c10::complex<double>*>(slot) = s.toComplexDouble(); return true;
    default: return false;
  }
}

// A host scalar's type and bits (zero past its size): equal keys, equal values.
struct ScalarBits {
  c10::ScalarType type;
  uint64_t bits[2];
  bool operator==(const ScalarBits& o) const { return type == o.type && bits[0] == o.bits[0] && bits[1] == o.bits[1]; }
};
struct HashScalarBits {
  size_t operator()(const ScalarBits& k) const {
    return std::hash<uint64_t>()(k.bits[0] * 31 + k.bits[1]) ^ static_cast<size_t>(k.type);
  }
};

// The host values of the graph's parameters: the memory of their buffers, or the error that left a
// buffer empty. Scalars recorded as numbers (every `alpha` of add and sub, an optimizer's betas) share
// one host buffer, and equal ones one 0-dim tensor (steps only read them): a tensor apiece (storage,
// memory, fill) was half the time of running a cached graph of small ops, and the demo's AdamW step
// holds 455 scalars of 10 values.
std::vector<StepValue> ParameterValues(const Graph& graph, const std::vector<BufferPtr>& inputs) {
  constexpr size_t kSlotBytes = sizeof(ScalarBits::bits);  // holds and aligns every host scalar type
  size_t scalars = 0;
  for (const Parameter* p : graph.parameters) scalars += p->host_scalar() != nullptr;
  c10::Storage slots(c10::Storage::use_byte_size_t(), scalars * kSlotBytes, c10::GetCPUAllocator(), false);
  auto* bytes = static_cast<char*>(slots.mutable_data());
  std::vector<StepValue> values(graph.parameters.size());
  std::unordered_map<ScalarBits, size_t, HashScalarBits> written;  // value -> its parameter
  size_t slot = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const Parameter* p = graph.parameters[i];
    try {
      const at::Scalar* s = p->host_scalar();
      alignas(kSlotBytes) char value[kSlotBytes] = {};
      if (inputs[i]) {
        values[i].tensor = inputs[i]->MemoryAs(p->shape().dtype);
      } else if (s && WriteScalar(*s, value)) {
        ScalarBits key{s->type(), {}};
        std::memcpy(key.bits, value, kSlotBytes);
        auto [same, fresh] = written.try_emplace(key, i);
        if (!fresh) {
          values[i].tensor = values[same->second].tensor;
          continue;
        }
        std::memcpy(bytes + slot * kSlotBytes, value, kSlotBytes);
        auto dtype = c10::scalarTypeToTypeMeta(s->type());
        at::Tensor t = at::detail::make_tensor<c10::TensorImpl>(c10::Storage(slots), c10::DispatchKeySet(c10::DispatchKey::CPU),
                                                                dtype);
        t.unsafeGetTensorImpl()->set_sizes_contiguous({});
        t.unsafeGetTensorImpl()->set_storage_offset(static_cast<int64_t>(slot++ * kSlotBytes / dtype.itemsize()));
        values[i].tensor = std::move(t);
      } else {
        values[i].tensor = p->host_value();
      }
    } catch (...) {
      values[i].error = std::current_exception();
    }
  }
  return values;
}

// `value` flat, in memory of its own: not the memory of a kept input or of an earlier output.
at::Tensor Unshared(const at::Tensor& value, std::unordered_set<const void*>& taken) {
  at::Tensor flat = ContiguousAlias(value.contiguous(), {value.numel()});
  bool shared = flat.numel() > 0 && !taken.insert(flat.storage().data_ptr().get()).second;
  return shared || flat.storage_offset() != 0 ? flat.clone() : flat;
}

}  // namespace

StepProgram::StepProgram(const Graph& g, std::vector<StepSpec> specs) {
  std::vector<size_t> first_slot(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    first_slot[i] = num_slots_;
    num_slots_ += g.nodes[i]->num_outputs();
    if (g.nodes[i]->is_parameter()) param_slots_.push_back(first_slot[i]);
  }
  auto slot_of = [&](const ValueRef& v) { return first_slot[g.position.at(v.node)] + v.index; };
  std::vector<size_t> last_use(num_slots_, SIZE_MAX);
  for (auto& spec : Prune(g, std::move(specs))) {
    Step step{std::move(spec.kernel), {}, {}, {}};
    for (const auto& v : spec.inputs) {
      step.inputs.push_back(slot_of(v));
      last_use[slot_of(v)] = steps_.size();
    }
    for (const auto& v : spec.outputs) step.outputs.push_back(slot_of(v));
    steps_.push_back(std::move(step));
  }
  for (const auto& r : g.roots) {
    root_slots_.push_back(slot_of(Ref(r)));
    last_use[root_slots_.back()] = SIZE_MAX;
  }
  for (size_t s = 0; s < num_slots_; ++s) {
    if (last_use[s] != SIZE_MAX) steps_[last_use[s]].release.push_back(s);
  }
}

std::vector<StepValue> StepProgram::Run(const Graph& graph, c10::Device memory, std::vector<StepValue> params,
                                        const std::vector<bool>& donatable) const {
  TORCH_INTERNAL_ASSERT(params.size() == param_slots_.size() && donatable.size() == params.size());
  std::vector<StepValue> slots(num_slots_);
  Donations donations(num_slots_);
  for (size_t i = 0; i < params.size(); ++i) {
    if (donatable[i] && !params[i].error) donations.Track(param_slots_[i], params[i].tensor);
    slots[param_slots_[i]] = std::move(params[i]);
  }
  std::vector<at::Tensor> inputs;
  std::vector<bool> reusable;
  for (const Step& step : steps_) {
    inputs.clear();
    std::exception_ptr error;
    for (size_t s : step.inputs) {
      if (slots[s].error) error = slots[s].error;
      inputs.push_back(slots[s].tensor);
    }
    donations.Reusable(step.inputs, step.release, reusable);
    std::vector<at::Tensor> outputs;
    if (!error) {
      try {
        outputs = step.kernel(inputs, StepRun{graph, memory, reusable});
        TORCH_INTERNAL_ASSERT(outputs.size() >= step.outputs.size());
      } catch (...) {
        error = std::current_exception();
      }
    }
    for (size_t k = 0; k < step.outputs.size(); ++k) {
      StepValue& out = slots[step.outputs[k]];
      if (error) {
        out.error = error;
        continue;
      }
      donations.Produced(step.outputs[k], outputs[k]);
      out.tensor = std::move(outputs[k]);
    }
    for (size_t s : step.release) {
      donations.Released(s);
      slots[s] = {};
    }
  }
  std::vector<StepValue> roots;
  roots.reserve(root_slots_.size());
  for (size_t s : root_slots_) roots.push_back(slots[s]);
  return roots;
}

at::Tensor ContiguousAlias(const at::Tensor& contiguous, c10::IntArrayRef sizes) {
  TORCH_INTERNAL_ASSERT(contiguous.is_contiguous() && c10::multiply_integers(sizes) == contiguous.numel());
  auto impl = c10::make_intrusive<c10::TensorImpl>(c10::TensorImpl::VIEW, c10::Storage(contiguous.storage()),
                                                   contiguous.key_set(), contiguous.dtype());
  impl->set_sizes_contiguous(sizes);
  impl->set_storage_offset(contiguous.storage_offset());
  return at::Tensor(std::move(impl));
}

void RunAndFill(const StepProgram& program, const Graph& graph, c10::Device memory,
                const std::vector<BufferPtr>& inputs, const std::vector<bool>& donatable,
                const std::vector<BufferPtr>& outputs) {
  static auto* execute_time = metrics::GetCounter("ExecuteTimeNs");
  metrics::ScopedTimer timer(execute_time);
  // torch.profiler shows a program's run as one range, its kernels inside: apart from recording, which
  // runs the same ATen ops (on lazyplus tensors) at no cost of their own.
  RECORD_FUNCTION("lazyplus::execute", c10::ArrayRef<const c10::IValue>{});
  at::AutoDispatchBelowADInplaceOrView host_values_only;
  std::vector<StepValue> results;
  std::unordered_set<const void*> taken;
  try {
    std::vector<StepValue> params = ParameterValues(graph, inputs);
    for (size_t i = 0; i < params.size(); ++i) {
      if (!donatable[i] && params[i].tensor.defined()) taken.insert(params[i].tensor.storage().data_ptr().get());
    }
    results = program.Run(graph, memory, std::move(params), donatable);
  } catch (...) {
    results.assign(outputs.size(), StepValue{{}, std::current_exception()});
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    try {
      if (results[i].error) std::rethrow_exception(results[i].error);
      outputs[i]->Fill(Unshared(results[i].tensor, taken));
    } catch (...) {
      outputs[i]->Fail(std::current_exception());
    }
  }
}

namespace {

// Sets torch.use_deterministic_algorithms to the node's recorded setting while its kernel runs.
class DeterministicAsRecorded {
 public:
  explicit DeterministicAsRecorded(bool recorded) : before_(at::globalContext().deterministicAlgorithms()) {
    if (recorded != before_) Set(recorded);
  }
  ~DeterministicAsRecorded() {
    if (at::globalContext().deterministicAlgorithms() != before_) Set(before_);
  }

 private:
  static void Set(bool on) {
    at::globalContext().setDeterministicAlgorithms(on, at::globalContext().deterministicAlgorithmsWarnOnly());
  }
  bool before_;
};

// Operand 0's memory is dead after this step, contiguous, and no other operand views it.
bool MayOverwriteOperand0(const std::vector<at::Tensor>& in, const StepRun& run) {
  if (in.empty() || run.reusable.empty() || !run.reusable[0] || !in[0].is_contiguous()) return false;
  const void* memory = in[0].storage().data_ptr().get();
  return std::none_of(in.begin() + 1, in.end(), [&](const at::Tensor& t) {
    return t.defined() && t.has_storage() && t.storage().data_ptr().get() == memory;
  });
}

}  // namespace

StepSpec NodeStep(const Graph& g, const Node* n) {
  // The kernel comes from the graph being run: its attributes are the same, its sizes may not be.
  size_t position = g.position.at(n);
  StepSpec step{[position](const std::vector<at::Tensor>& in, const StepRun& run) {
                  const Node* node = run.graph.nodes[position];
                  DeterministicAsRecorded guard(node->deterministic());
                  try {
                    HostKernel into = node->host_kernel_into_operand0();
                    return into && MayOverwriteOperand0(in, run) ? into(in) : node->host_kernel()(in);
                  } catch (c10::Error& e) {
                    e.add_context("lazyplus: raised by " + node->op() + " recorded at " + FullText(node->source()));
                    throw;
                  }
                },
                {}, {}};
  for (const auto& v : n->operands()) step.inputs.push_back(Ref(v));
  for (size_t k = 0; k < n->num_outputs(); ++k) step.outputs.push_back({n, k});
  return step;
}

}  // namespace lazyplus
