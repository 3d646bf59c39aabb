#pragma once
// The 2-norm of a whole float32 contiguous tensor (linalg_vector_norm with ord 2 over every dim: what
// gradient clipping takes of each gradient) on lazyplus's own sum of squares (sums_impl.h). ATen's
// reduction took 4-5 us per call for the demo's gradients (12k-16k values) inside a replayed step
// (2-core Xeon), 29 calls per step. Squares summed in float64 over 16-term float32 runs: not eager's
// bits; as accurate, or more.
#include "backend/step_program.h"

namespace lazyplus {

bool IsVectorNorm(const Node& node);
// Its step: this kernel where the run's tensors fit it, else ATen's.
StepSpec VectorNormStep(const Graph& graph, const Node* node);

}  // namespace lazyplus
