#pragma once
// The CUDA lowering: each region of the CUDA schedule (cuda_regions.h) runs its generated kernel
// through torch.ops.lazyplus.run_cuda_region, every other node its ATen kernel on the device's
// tensors. It needs no GPU to compile a graph: the op's kernel for CUDA tensors comes from
// liblazyplus_cuda.so (gpu/region_op.cpp); tests run the same programs on the host by giving the op a
// CPU kernel that calls the regions' host twins.
#include "backend/lowering.h"

namespace lazyplus {

const Lowering& CudaLowering();

}  // namespace lazyplus
