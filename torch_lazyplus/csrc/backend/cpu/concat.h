#pragma once
// Concatenation (cat) of contiguous tensors of one dtype on lazyplus's own copy loop: each thread
// copies the outer rows that the kernels before it wrote on its core. ATen's cat of the demo's q, k
// and v gradients ((16, 32, 64) x 3 along the last dim) took 46-54 us inside a replayed step (2-core
// Xeon), as three strided copies each spread over both threads.
#include "backend/step_program.h"

namespace lazyplus {

bool IsCat(const Node& node);
// Its step: this copy where the run's tensors fit it, else ATen's.
StepSpec CatStep(const Graph& graph, const Node* node);

}  // namespace lazyplus
