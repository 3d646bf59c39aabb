#pragma once
// The CPU backend: buffers are host memory, programs are step programs (reference or fused lowering)
// run on the device's host stream.
#include "backend/backend.h"

namespace lazyplus {

std::unique_ptr<Backend> MakeCpuBackend(c10::Device device);

}  // namespace lazyplus
