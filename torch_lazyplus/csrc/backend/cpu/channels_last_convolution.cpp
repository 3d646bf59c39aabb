#include "backend/cpu/channels_last_convolution.h"

#include "backend/cpu/own_kernel_step.h"
#include "ir/node_factory.h"
#include "support/onednn_convolution.h"

namespace lazyplus {
namespace {

using Tensors = std::vector<at::Tensor>;
constexpr auto kChannelsLast = at::MemoryFormat::ChannelsLast;

// A dense 4-d float32 tensor, in either layout.
bool Dense4d(const at::Tensor& t) {
  return t.dim() == 4 && t.scalar_type() == at::kFloat &&
         (t.is_contiguous() || t.is_contiguous(kChannelsLast));
}

// The node's convolution of `input` by `weight` is oneDNN's and may run channels-last.
bool Takes(const Node& node, const at::Tensor& input, const at::Tensor& weight) {
  return !node.attr("transposed").toBool() && Dense4d(input) && Dense4d(weight) &&
         OneDnnConvolves(input, weight, node.attr("stride").toIntVector(), node.attr("dilation").toIntVector(),
                         node.attr("groups").toInt());
}

// operands: input, weight[, bias] -> the convolution, channels-last.
std::optional<Tensors> RunConvolution(const Node& node, const Tensors& in) {
  if (!Takes(node, in[0], in[1])) return std::nullopt;
  Tensors cl = in;
  for (int i : {0, 1}) cl[i] = in[i].contiguous(kChannelsLast);
  return node.host_kernel()(cl);
}

// operands: grad_output, input, weight -> grad_input (channels-last), grad_weight (the weight's
// layout, as eager's), grad_bias.
std::optional<Tensors> RunConvolutionBackward(const Node& node, const Tensors& in) {
  if (!Takes(node, in[1], in[2]) || !Dense4d(in[0])) return std::nullopt;
  Tensors cl = in;
  for (int i : {0, 1, 2}) cl[i] = in[i].contiguous(kChannelsLast);
  Tensors grads = node.host_kernel()(cl);
  if (grads[1].defined()) grads[1] = grads[1].contiguous(in[2].suggest_memory_format());
  return grads;
}

}  // namespace

bool IsConvolution(const Node& node) {
  static const OpKind& kind = KindNamed("aten::convolution");
  return &node.kind() == &kind;
}

StepSpec ConvolutionStep(const Graph& graph, const Node* node) {
  return OwnKernelStep(graph, node, &RunConvolution, "ChannelsLastConvolutionCalls");
}

bool IsConvolutionBackward(const Node& node) {
  static const OpKind& kind = KindNamed("aten::convolution_backward");
  return &node.kind() == &kind;
}

StepSpec ConvolutionBackwardStep(const Graph& graph, const Node* node) {
  return OwnKernelStep(graph, node, &RunConvolutionBackward, "ChannelsLastConvolutionBackwardCalls");
}

}  // namespace lazyplus
