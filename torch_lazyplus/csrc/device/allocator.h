#pragma once
// Memory of the lazyplus device as PyTorch sees it: a lazyplus DataPtr is the address of a ready
// Buffer's memory that keeps the Buffer alive and is counted in the device's memory statistics
// (torch.accelerator.memory_allocated and friends).
#include <c10/core/CachingDeviceAllocator.h>

#include "device/buffer.h"

namespace lazyplus {

// A fresh buffer of `nbytes` bytes of host memory for `device`, uninitialized (the CPU backend's).
BufferPtr AllocateBuffer(size_t nbytes, c10::Device device);
// Where storage memory comes from: the device's backend, which registers itself here.
using BufferSource = BufferPtr (*)(size_t nbytes, c10::Device device);
void SetBufferSource(BufferSource source);
// The DataPtr of a fresh buffer of the device's backend.
c10::DataPtr AllocateOn(size_t nbytes, c10::Device device);
// Memory for a storage whose contents are pending: no buffer behind it (BufferOf is undefined).
c10::DataPtr AllocatePlaceholder(size_t nbytes, c10::Device device);
bool IsPlaceholder(const c10::DataPtr& ptr);
// The DataPtr of a buffer (waits until it is ready).
c10::DataPtr MakeDataPtr(BufferPtr buffer);
// The buffer behind a DataPtr made by MakeDataPtr, or null.
BufferPtr BufferOf(const c10::DataPtr& ptr);

c10::DeviceAllocator* DeviceAllocator();
// Host memory for pin_memory(); pinned pointers are tracked for is_pinned().
c10::Allocator* PinnedAllocator();
bool IsPinned(const void* ptr);

}  // namespace lazyplus
