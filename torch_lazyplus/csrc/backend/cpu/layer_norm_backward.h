#pragma once
// Layer norm's backward (native_layer_norm_backward) on float32 contiguous rows: ATen's arithmetic
// without its overhead (layer_norm_rows_impl.h). On the demo's (16, 32, 64), 2-core Xeon: 17 us per
// call against ATen's 28-36 alone, 30-34 against 46 inside the replayed step (five calls per step);
// (8, 128, 256) 83 us against 118-168.
#include "backend/step_program.h"

namespace lazyplus {

bool IsLayerNormBackward(const Node& node);
// Its step: this kernel where the run's tensors fit it, else ATen's.
StepSpec LayerNormBackwardStep(const Graph& graph, const Node* node);

}  // namespace lazyplus
