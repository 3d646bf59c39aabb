#pragma once
// The embedding's weight gradient (embedding_dense_backward) on float32 rows: each index's gradient row
// added to its weight row, in index order, as ATen adds them (so eager's sums, bit for bit). ATen's
// kernel took 48-53 us per call for the demo's 512 token rows of 64 inside a replayed step (2-core
// Xeon), for 32k additions.
#include "backend/step_program.h"

namespace lazyplus {

bool IsEmbeddingBackward(const Node& node);
// Its step: this kernel where the run's tensors fit it, else ATen's.
StepSpec EmbeddingBackwardStep(const Graph& graph, const Node* node);

}  // namespace lazyplus
