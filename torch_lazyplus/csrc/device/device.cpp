#include "device/device.h"

#include <c10/core/DeviceType.h>
#include <c10/util/Exception.h>

#include <cstdlib>

namespace lazyplus {
namespace {
thread_local c10::DeviceIndex current_device = 0;
StorageResizer storage_resizer = nullptr;
DeviceWaiter device_waiter = nullptr;

// The name makes torch.device("lazyplus") parse in processes that load only this library.
const bool named = [] {
  c10::register_privateuse1_backend("lazyplus");
  return true;
}();
}  // namespace

c10::DeviceIndex DeviceCount() noexcept {
  static const c10::DeviceIndex count = [] {
    const char* env = std::getenv("LAZYPLUS_DEVICE_COUNT");
    int n = env ? std::atoi(env) : 1;
    return static_cast<c10::DeviceIndex>(n > 0 ? n : 1);
  }();
  return count;
}

c10::DeviceIndex CurrentDevice() { return current_device; }

c10::DeviceIndex CheckedDeviceIndex(c10::DeviceIndex index) {
  if (index < 0) return current_device;
  TORCH_CHECK(index < DeviceCount(), "Invalid device index lazyplus:", static_cast<int>(index),
              ": only ", static_cast<int>(DeviceCount()), " lazyplus device(s) exist");
  return index;
}

void SetCurrentDevice(c10::DeviceIndex index) { current_device = CheckedDeviceIndex(index); }

c10::Device MakeDevice(c10::DeviceIndex index) { return c10::Device(kLazyplus, CheckedDeviceIndex(index)); }

void SetStorageResizer(StorageResizer resizer) { storage_resizer = resizer; }

void ResizeStorage(c10::StorageImpl* storage, size_t nbytes) {
  TORCH_INTERNAL_ASSERT(storage_resizer, "lazyplus: no storage resizer registered");
  storage_resizer(storage, nbytes);
}

void SetDeviceWaiter(DeviceWaiter waiter) { device_waiter = waiter; }

void WaitForDevice(c10::DeviceIndex device) {
  TORCH_INTERNAL_ASSERT(device_waiter, "lazyplus: no device waiter registered");
  device_waiter(CheckedDeviceIndex(device));
}

}  // namespace lazyplus
