#pragma once
// Sums over the leading dims of a float32 contiguous tensor (sum.dim_IntList with dim = [0, ..., k-1]:
// the bias gradients of linear layers) on lazyplus's own kernel (sums_impl.h). Inside the demo's
// replayed step (2-core Xeon), per call: (512, 256) 13 us against ATen's 23, (512, 192) 12 against 29,
// (512, 64) 7 against 12. Block sums added in float64: not eager's bits; as accurate, or more.
#include "backend/step_program.h"

namespace lazyplus {

bool IsSum(const Node& node);
// Its step: this kernel where the run's tensors and dims fit it, else ATen's.
StepSpec ColumnSumsStep(const Graph& graph, const Node* node);

}  // namespace lazyplus
