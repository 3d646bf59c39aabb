#include "backend/cpu/cpu_backend.h"

#include <ATen/Parallel.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <ATen/record_function.h>
#include <c10/util/ThreadLocalDebugInfo.h>
#include <torch/csrc/profiler/orchestration/observer.h>

#include "backend/cpu/host_stream.h"
#include "backend/step_program.h"
#include "device/allocator.h"
#include "device/host_pool.h"

namespace lazyplus {
namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(c10::Device device) : device_(device) {}
  std::string name() const override { return "cpu"; }
  BufferPtr Allocate(size_t nbytes) const override { return AllocateBuffer(nbytes, device_); }
  BufferPtr Upload(at::Tensor host) const override {
    // Storage views address a buffer from its first byte.
    return std::make_shared<Buffer>(device_, host.storage_offset() == 0 ? std::move(host) : host.clone());
  }
  at::Tensor Download(const Buffer& buffer, at::ScalarType dtype, int64_t first, int64_t count) const override {
    return buffer.MemoryAs(dtype).narrow(0, first, count);
  }
  const Lowering& lowering() const override { return ActiveLowering(); }

  Launched Launch(std::shared_ptr<const Program> program, std::shared_ptr<const Graph> graph,
                  std::vector<BufferPtr> inputs, std::vector<bool> donatable) const override {
    Launched launched = PendingLaunch(*graph, device_);
    // Both CPU lowerings make step programs.
    auto steps = std::static_pointer_cast<const StepProgram>(std::move(program));
    auto run = [steps = std::move(steps), graph = std::move(graph), inputs = std::move(inputs),
                donatable = std::move(donatable), outputs = launched.outputs, done = launched.done] {
      PoolAsCpuAllocator pooled;  // ATen kernels' outputs reuse memory step after step
      RunAndFill(*steps, *graph, c10::kCPU, inputs, donatable, outputs);
      done->Set();
    };
    // Under torch.profiler the program runs before the launch returns, inside the profile: if the
    // profile ended while the stream thread recorded into it, PyTorch's profiler would read that
    // thread's event list as it grows (an INTERNAL ASSERT, or a segfault).
    if (!AsyncExecution() || torch::profiler::impl::profilerEnabled()) {
      stream_.Synchronize();  // what was launched while execution was asynchronous
      run();
      return launched;
    }
    // The stream runs the program with this thread's RecordFunction callbacks and intra-op threads.
    // Not with all its thread-local state: under a Python dispatch mode the ATen calls would need the
    // GIL, which a thread waiting for the results may hold.
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
