#include "backend/backend.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "device/device.h"

namespace lazyplus {
namespace {

std::atomic<bool>& Async() {
  static std::atomic<bool> on{[] {
    const char* env = std::getenv("LAZYPLUS_ASYNC");
    return !(env && std::strcmp(env, "0") == 0);
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
