#pragma once
// 2-d float32 convolutions, forward and backward, run channels-last where oneDNN takes them, whatever
// the layout the program gave them. oneDNN convolves (N, C, H, W) tensors by reordering them to its
// own layout on every call; channels-last it reads in place. Eager's step of the NCHW ResNet-style
// CNN in benchmarks/models.py, its convolutions given channels-last copies of input and weight:
// 31.3-35.8 ms against 39.6-44.2 (three alternations, 2-core EPYC Zen 4). The results stay
// channels-last for the kernels after them (every kernel and fused region reads either layout); a
// program's results are copied to their recorded layout, and weight gradients come back in the
// weight's layout. Values differ from eager's NCHW convolution in float32 rounding, as eager's
// channels-last convolution does.
#include "backend/step_program.h"

namespace lazyplus {

bool IsConvolution(const Node& node);
StepSpec ConvolutionStep(const Graph& graph, const Node* node);

bool IsConvolutionBackward(const Node& node);
StepSpec ConvolutionBackwardStep(const Graph& graph, const Node* node);

}  // namespace lazyplus
