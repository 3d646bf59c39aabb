#pragma once
// The CUDA backend: buffers are memory of a CUDA device from torch's caching allocator (torch.cuda's
// memory statistics see them; lazyplus's count them as its own), programs are the CUDA lowering's.
// Launch runs a program's steps on the calling thread: their ATen calls and region kernels queue on
// the device's current stream and return, so it returns before the GPU has run them, and a host read
// (Download: a copy on that stream) waits for them.
//
// `memory` is that CUDA device, or the CPU for the emulated target: the same programs, their region
// kernels run by their host twins (tests without a GPU), and downloads that are copies, as a GPU's are.
#include "backend/backend.h"

namespace lazyplus {

std::unique_ptr<Backend> MakeCudaBackend(c10::Device device, c10::Device memory);
// Whether this process can run the CUDA target: torch sees a GPU and liblazyplus_cuda.so is loaded.
bool CudaTargetAvailable();

}  // namespace lazyplus
