#pragma once
// The 2-norm of a whole float32 contiguous tensor (linalg_vector_norm with ord 2 over every dim: what
// gradient clipping takes of each gradient) on lazyplus's own sum of squares (sums_impl.h). ATen's
// reduction took 4-5 us per call for the demo's gradients (12k-16k values) inside a replayed step
// (2-core Xeon), 29 calls per step. Squares summed in float64 over 16-term float32 runs: not eager's
// bits; as accurate, or more. A stack of such norms (clip_grad_norm_ stacks every gradient's norm to
// take their norm) is one step writing each norm into its row, where a step per norm and ATen's stack
// of the demo's 28 took 165 us of a profiled replayed step (97 + 68), this step 21-28 (2-core EPYC).
#include "backend/step_program.h"

namespace lazyplus {

bool IsVectorNorm(const Node& node);
// Its step: this kernel where the run's tensors fit it, else ATen's.
StepSpec VectorNormStep(const Graph& graph, const Node* node);

// aten::stack of 0-dim linalg_vector_norm results (the norms' own steps then go unused, unless something
// else reads them). Its step: the norms into one tensor where this kernel takes them all, else ATen's.
bool IsStackOfVectorNorms(const Node& node);
StepSpec StackedVectorNormsStep(const Graph& graph, const Node* stack);

}  // namespace lazyplus
