#pragma once
// Layer norm on float32 contiguous rows: ATen's arithmetic without its overhead, the CPU's results bit
// for bit (layer_norm_rows_impl.h). The fused lowering runs the forward (native_layer_norm) apart from the
// regions around it: as a tile program it rounded otherwise than eager in a third of the elements. The
// backward (native_layer_norm_backward) on the demo's (16, 32, 64), 2-core Xeon: 17 us per call against
// ATen's 28-36 alone, 30-34 against 46 inside the replayed step (five calls per step); (8, 128, 256) 83 us
// against 118-168.
#include "backend/step_program.h"

namespace lazyplus {

// A float32 layer norm: the CPU's fused lowering fuses it with nothing.
bool IsFloatLayerNorm(const Node& node);
bool IsLayerNormBackward(const Node& node);
// Their steps: these kernels where the run's tensors fit them, else ATen's.
StepSpec LayerNormForwardStep(const Graph& graph, const Node* node);
StepSpec LayerNormBackwardStep(const Graph& graph, const Node* node);

}  // namespace lazyplus
