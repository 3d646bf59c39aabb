#pragma once
// Cross-entropy's backward, nll_loss_backward then _log_softmax_backward_data, as one pass over the
// logits. Eager fills a one-hot gradient as large as the logits and reads it back: for GPT-2's 1024 x
// 50257 logits, 206 MB written (nll_loss_backward, 55 ms) and read again (the log-softmax backward,
// 85 ms) on the 2-core EPYC.
#include "backend/step_program.h"

namespace lazyplus {

// A log-softmax backward whose incoming gradient is an nll_loss_backward's result.
bool IsCrossEntropyBackward(const Node& node);
// Its step: reads the nll_loss_backward's operands and the log-probabilities, not the one-hot gradient
// (whose own step, unread, is pruned).
StepSpec CrossEntropyBackwardStep(const Graph& graph, const Node* node);

}  // namespace lazyplus
