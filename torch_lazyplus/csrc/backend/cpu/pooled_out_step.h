#pragma once
// Nodes whose ATen kernel runs through its out= variant, writing into a pooled buffer: the GEMMs (mm,
// addmm, bmm, baddbmm; MKL) and gelu (oneDNN). ATen's functional kernels return fresh memory that
// page-faults on its first write: 1,800 faults per step, 71 % of all, in the MLP training step (17 MB
// of GEMM outputs) before this; gelu over 4096 x 4096 took 31 ms so, against 13 ms as a region.
#include "backend/step_program.h"

namespace lazyplus {

bool HasPooledOutKernel(const Node& node);
StepSpec PooledOutStep(const Graph& graph, const Node* node);

}  // namespace lazyplus
