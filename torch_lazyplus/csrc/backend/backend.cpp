#include "backend/backend.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include <ATen/ops/as_strided.h>
#include <ATen/ops/empty_strided.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <c10/util/accumulate.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/cuda_backend.h"
#include "device/allocator.h"
#include "device/device.h"

namespace lazyplus {
namespace {

// Off unless asked for (LAZYPLUS_ASYNC=1): the stream thread's kernels start a second OpenMP team, and
// libgomp throttles its spin-waiting once a process has more OpenMP threads than cores, so every
// parallel region in the process, eager's included, then pays a futex wake-up. On 2 cores that made
// a 256x256 matmul on the main thread 238 -> 450-510 us, and the README demo's step 17 ms synchronous
// against 25 ms asynchronous (eager alone: 10 ms; each in a process of its own).
std::atomic<bool>& Async() {
  static std::atomic<bool> on{[] {
    const char* env = std::getenv("LAZYPLUS_ASYNC");
    return env && std::strcmp(env, "1") == 0;
  }()};
  return on;
}

const bool device_hooks_registered = [] {
  SetDeviceWaiter([](c10::DeviceIndex device) { BackendFor(device).Synchronize(); });
  SetBufferSource([](size_t nbytes, c10::Device device) { return BackendFor(device.index()).Allocate(nbytes); });
  return true;
}();

std::unique_ptr<Backend> MakeBackend(c10::DeviceIndex d) {
  const std::string& target = Target();
  if (target == "cpu") return MakeCpuBackend(MakeDevice(d));
  if (target == "cuda-emulated") return MakeCudaBackend(MakeDevice(d), c10::Device(c10::kCPU));
  TORCH_CHECK(CudaTargetAvailable(), "lazyplus: LAZYPLUS_TARGET=cuda needs a GPU that torch sees and a lazyplus "
              "built with a CUDA torch (liblazyplus_cuda.so)");
  auto gpus = c10::impl::getDeviceGuardImpl(c10::kCUDA)->deviceCount();
  return MakeCudaBackend(MakeDevice(d), c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(d % gpus)));
}

}  // namespace

at::Tensor Backend::DownloadView(const Buffer& buffer, at::ScalarType dtype, c10::IntArrayRef sizes,
                                 c10::IntArrayRef strides, int64_t offset) const {
  if (c10::multiply_integers(sizes) == 0) return at::empty_strided(sizes, strides, at::TensorOptions(dtype));
  int64_t last = offset;  // strides are never negative
  for (size_t d = 0; d < sizes.size(); ++d) last += (sizes[d] - 1) * strides[d];
  at::Tensor span = Download(buffer, dtype, offset, last - offset + 1);
  return at::as_strided(span, sizes, strides, span.storage_offset());  // a view of the memory on the CPU
}

Launched PendingLaunch(const Graph& graph, c10::Device device) {
  Launched launched{{}, std::make_shared<Event>()};
  for (const Value& root : graph.roots) {
    const Shape& s = root.shape();
    launched.outputs.push_back(std::make_shared<Buffer>(
        device, s.dtype, static_cast<size_t>(s.numel()) * c10::elementSize(s.dtype), launched.done));
  }
  return launched;
}

const std::string& Target() {
  static const std::string target = [] {
    const char* env = std::getenv("LAZYPLUS_TARGET");
    std::string name = env && *env ? env : (CudaTargetAvailable() ? "cuda" : "cpu");
    TORCH_CHECK(name == "cpu" || name == "cuda" || name == "cuda-emulated", "lazyplus: unknown LAZYPLUS_TARGET '",
                name, "'; available: cpu, cuda, cuda-emulated");
    return name;
  }();
  return target;
}

const Backend& BackendFor(c10::DeviceIndex device) {
  static const auto* backends = [] {
    auto* all = new std::vector<std::unique_ptr<Backend>>();
    for (c10::DeviceIndex d = 0; d < DeviceCount(); ++d) all->push_back(MakeBackend(d));
    return all;
  }();
  TORCH_INTERNAL_ASSERT(device >= 0 && device < DeviceCount(), "lazyplus: no device ", static_cast<int>(device));
  return *(*backends)[device];
}

bool AsyncExecution() { return Async().load(std::memory_order_relaxed); }
void SetAsyncExecution(bool on) { Async() = on; }

}  // namespace lazyplus
