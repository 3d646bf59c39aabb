#include "backend/backend.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "backend/cpu/cpu_backend.h"
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

const bool waiter_registered = [] {
  SetDeviceWaiter([](c10::DeviceIndex device) { BackendFor(device).Synchronize(); });
  return true;
}();

}  // namespace

const Backend& BackendFor(c10::DeviceIndex device) {
  static const auto* backends = [] {
    auto* all = new std::vector<std::unique_ptr<Backend>>();
    for (c10::DeviceIndex d = 0; d < DeviceCount(); ++d) all->push_back(MakeCpuBackend(MakeDevice(d)));
    return all;
  }();
  TORCH_INTERNAL_ASSERT(device >= 0 && device < DeviceCount(), "lazyplus: no device ", static_cast<int>(device));
  return *(*backends)[device];
}

bool AsyncExecution() { return Async().load(std::memory_order_relaxed); }
void SetAsyncExecution(bool on) { Async() = on; }

}  // namespace lazyplus
