#pragma once
// The "lazyplus" device: its index space and the current device of this thread.
#include <c10/core/Device.h>
#include <c10/core/StorageImpl.h>

namespace lazyplus {

constexpr c10::DeviceType kLazyplus = c10::DeviceType::PrivateUse1;

// Number of lazyplus devices (LAZYPLUS_DEVICE_COUNT, default 1). Never throws.
c10::DeviceIndex DeviceCount() noexcept;
c10::DeviceIndex CurrentDevice();
void SetCurrentDevice(c10::DeviceIndex index);
// Checks the index and returns it, resolving -1 to the current device.
c10::DeviceIndex CheckedDeviceIndex(c10::DeviceIndex index);
c10::Device MakeDevice(c10::DeviceIndex index = -1);

// Grows a storage to `nbytes` (untyped_storage().resize_()). Storages belong to the tensor layer,
// which registers this at load time; the device hooks only forward to it.
using StorageResizer = void (*)(c10::StorageImpl* storage, size_t nbytes);
void SetStorageResizer(StorageResizer resizer);
void ResizeStorage(c10::StorageImpl* storage, size_t nbytes);

// Waits for the programs launched on a device (torch.accelerator.synchronize, a stream's
// synchronize). The backend layer registers it at load time.
using DeviceWaiter = void (*)(c10::DeviceIndex device);
void SetDeviceWaiter(DeviceWaiter waiter);
void WaitForDevice(c10::DeviceIndex device);

}  // namespace lazyplus
