#pragma once
// Memory of the lazyplus device. A lazy device executes on the host, so every buffer is a flat CPU
// tensor; a lazyplus DataPtr is a view of one that keeps it alive and is counted in the device's
// memory statistics (torch.accelerator.memory_allocated and friends).
#include <ATen/core/Tensor.h>
#include <c10/core/CachingDeviceAllocator.h>

namespace lazyplus {

// A fresh buffer of `nbytes` on `device` (uninitialized host memory behind it).
c10::DataPtr AllocateOn(size_t nbytes, c10::Device device);
// Memory for a storage whose contents are pending: no buffer behind it (BufferOf is undefined).
c10::DataPtr AllocatePlaceholder(size_t nbytes, c10::Device device);
bool IsPlaceholder(const c10::DataPtr& ptr);
// Wraps a contiguous CPU buffer as a DataPtr on `device`.
c10::DataPtr MakeDataPtr(at::Tensor cpu_buffer, c10::Device device);
// The CPU buffer behind a DataPtr made by MakeDataPtr, or an undefined tensor.
at::Tensor BufferOf(const c10::DataPtr& ptr);

c10::DeviceAllocator* DeviceAllocator();
// Host memory for pin_memory(); pinned pointers are tracked for is_pinned().
c10::Allocator* PinnedAllocator();
bool IsPinned(const void* ptr);

}  // namespace lazyplus
