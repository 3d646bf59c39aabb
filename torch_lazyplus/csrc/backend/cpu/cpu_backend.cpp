#include "backend/cpu/cpu_backend.h"

#include <ATen/Parallel.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <ATen/record_function.h>
#include <c10/util/ThreadLocalDebugInfo.h>
#include <c10/core/CPUAllocator.h>

#include <unordered_set>

#include "backend/cpu/host_stream.h"
#include "backend/cpu/step_program.h"
#include "device/allocator.h"
#include "support/metrics.h"

namespace lazyplus {
namespace {

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

// The host values of the graph's parameters: the memory of their buffers, or the error that left a
// buffer empty. Scalars recorded as numbers (every `alpha` of add and sub) share one host buffer, a
// 0-dim tensor each: a tensor of their own apiece (storage, memory, fill) was half the time of
// running a cached graph of small ops.
std::vector<HostValue> ParameterValues(const Graph& graph, const std::vector<BufferPtr>& inputs) {
  constexpr size_t kSlotBytes = 16;  // holds and aligns every host scalar type
  size_t scalars = 0;
  for (const Parameter* p : graph.parameters) scalars += p->host_scalar() != nullptr;
  c10::Storage slots(c10::Storage::use_byte_size_t(), scalars * kSlotBytes, c10::GetCPUAllocator(), false);
  auto* bytes = static_cast<char*>(slots.mutable_data());
  std::vector<HostValue> values(graph.parameters.size());
  size_t slot = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const Parameter* p = graph.parameters[i];
    try {
      const at::Scalar* s = p->host_scalar();
      if (inputs[i]) {
        values[i].tensor = inputs[i]->MemoryAs(p->shape().dtype);
      } else if (s && WriteScalar(*s, bytes + slot * kSlotBytes)) {
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
  at::Tensor flat = value.contiguous().view(-1);
  bool shared = flat.numel() > 0 && !taken.insert(flat.storage().data_ptr().get()).second;
  return shared || flat.storage_offset() != 0 ? flat.clone() : flat;
}

// Runs a launched program and fills its outputs. Never throws.
void RunOnHost(const StepProgram& program, const Graph& graph, const std::vector<BufferPtr>& inputs,
               const std::vector<bool>& donatable, const std::vector<BufferPtr>& outputs) {
  static auto* execute_time = metrics::GetCounter("ExecuteTimeNs");
  metrics::ScopedTimer timer(execute_time);
  at::AutoDispatchBelowADInplaceOrView host_values_only;
  std::vector<HostValue> results;
  std::unordered_set<const void*> taken;
  try {
    std::vector<HostValue> params = ParameterValues(graph, inputs);
    for (size_t i = 0; i < params.size(); ++i) {
      if (!donatable[i] && params[i].tensor.defined()) taken.insert(params[i].tensor.storage().data_ptr().get());
    }
    results = program.Run(graph, std::move(params), donatable);
  } catch (...) {
    results.assign(outputs.size(), HostValue{{}, std::current_exception()});
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

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(c10::Device device) : device_(device) {}
  std::string name() const override { return "cpu"; }
  BufferPtr Allocate(size_t nbytes) const override { return AllocateBuffer(nbytes, device_); }
  BufferPtr Upload(at::Tensor host) const override {
    // Storage views address a buffer from its first byte.
    return std::make_shared<Buffer>(device_, host.storage_offset() == 0 ? std::move(host) : host.clone());
  }
  at::Tensor Download(const Buffer& buffer) const override { return buffer.memory(); }
  const Lowering& lowering() const override { return ActiveLowering(); }

  Launched Launch(std::shared_ptr<const Program> program, std::shared_ptr<const Graph> graph,
                  std::vector<BufferPtr> inputs, std::vector<bool> donatable) const override {
    auto done = std::make_shared<Event>();
    Launched launched{{}, done};
    for (const Value& root : graph->roots) {
      const Shape& s = root.shape();
      launched.outputs.push_back(std::make_shared<Buffer>(
          device_, s.dtype, static_cast<size_t>(s.numel()) * c10::elementSize(s.dtype), done));
    }
    // Both CPU lowerings make step programs.
    auto steps = std::static_pointer_cast<const StepProgram>(std::move(program));
    auto run = [steps = std::move(steps), graph = std::move(graph), inputs = std::move(inputs),
                donatable = std::move(donatable), outputs = launched.outputs, done] {
      RunOnHost(*steps, *graph, inputs, donatable, outputs);
      done->Set();
    };
    if (!AsyncExecution()) {
      stream_.Synchronize();  // what was launched while execution was asynchronous
      run();
      return launched;
    }
    // The stream runs the program with this thread's profiler and intra-op threads. Not with all its
    // thread-local state: under a Python dispatch mode the ATen calls would need the GIL, which a
    // thread waiting for the results may hold.
    stream_.Enqueue([run = std::move(run), record = at::get_record_function_tls_(),
                     debug = c10::ThreadLocalDebugInfo::current(), threads = at::get_num_threads()] {
      c10::DebugInfoGuard profiler(debug);
      auto before = at::get_record_function_tls_();
      at::set_record_function_tls_(record);
      if (at::get_num_threads() != threads) at::set_num_threads(threads);
      run();
      at::set_record_function_tls_(before);
    });
    return launched;
  }

  void Synchronize() const override { stream_.Synchronize(); }

 private:
  c10::Device device_;
  mutable HostStream stream_;
};

}  // namespace

std::unique_ptr<Backend> MakeCpuBackend(c10::Device device) { return std::make_unique<CpuBackend>(device); }

}  // namespace lazyplus
