#pragma once
// Batch norm's training forward (_native_batch_norm_legit_functional) on float32 input in either of
// ATen's layouts (batch_norm_layout.h). Input of planes (NCHW): statistics summed in float64 vector
// lanes (batch_norm_kernels_impl.h); ATen sums each channel in one float64 chain, each add waiting on
// the one before: 455 us of the CNN's (16, 32, 32, 32) batch norm on the 2-core Xeon, 2.6 ms of its 39
// ms step over nine calls. The sums differ from eager's in float64's last bits only, so the float32
// results are eager's unless a sum sits on a rounding boundary (none in the tests, on any ISA).
// Channels-last input: ATen's float32 sums per part of the rows, so eager's bits.
#include "backend/step_program.h"

namespace lazyplus {

bool IsBatchNormTraining(const Node& node);
// Its step: this kernel where the run's tensors fit it, else ATen's.
StepSpec BatchNormTrainingStep(const Graph& graph, const Node* node);

}  // namespace lazyplus
