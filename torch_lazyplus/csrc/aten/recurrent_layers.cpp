// nn.GRU and nn.RNN on lazyplus. On the CPU target (float32, float64) each layer and direction records
// one node over the whole sequence and its backward one node (recurrent_layer_kernels.h): eager's CPU
// runs a GRU as ~8 ATen ops per time step forward and ~20 autograd nodes backward, which was half of a
// 2-layer GRU language model's training step (27 of 53 ms, d=256, 16 x 64, AVX-512 Xeon). Layers chain
// as ATen's apply_layer_stack chains them, with dropout between layers from the lazyplus generator.
// Elsewhere the call is one node running the CPU's own loop (rnn_sequences.h), or decomposes.
#include <ATen/core/grad_mode.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/dropout.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/gru_native.h>
#include <ATen/ops/rnn_relu_native.h>
#include <ATen/ops/rnn_tanh_native.h>
#include <ATen/ops/stack.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <algorithm>

#include "aten/recurrent_cells.h"
#include "aten/recurrent_layer_kernels.h"
#include "aten/rnn_sequences.h"
#include "backend/backend.h"
#include "ir/node_factory.h"
#include "ir/node_with_args.h"
#include "tensor/lazy_tensor.h"
#include "tensor/tracing.h"

namespace lazyplus {
namespace {

using at::Tensor;
using at::TensorList;
using Tensors = std::vector<Tensor>;

// LayerArgs as node attributes (NodeWithArgs).
struct LayerArgsCodec {
  using Args = LayerArgs;
  static hash_t Hash(const LayerArgs& a) { return HashAll(static_cast<int64_t>(a.mode), a.reverse, a.has_biases); }
  static std::vector<c10::IValue> IValues(const LayerArgs& a) {
    return {static_cast<int64_t>(a.mode), a.reverse, a.has_biases};
  }
  static LayerArgs From(const std::vector<c10::IValue>& v) {
    TORCH_CHECK(v.size() == 3 && v[0].isInt() && v[0].toInt() >= 0 && v[0].toInt() <= 2 && v[1].isBool() &&
                    v[2].isBool(),
                "lazyplus: bad attributes of a recurrent layer node");
    return {static_cast<RnnMode>(v[0].toInt()), v[1].toBool(), v[2].toBool()};
  }
  static std::string Text(const LayerArgs& a) {
    static const char* modes[] = {"gru", "rnn_tanh", "rnn_relu"};
    return std::string("mode=") + modes[static_cast<int64_t>(a.mode)] + ", reverse=" + AttrText(a.reverse) +
           ", has_biases=" + AttrText(a.has_biases);
  }
};

// A node of one layer and direction.
using LayerNode = NodeWithArgs<LayerArgsCodec>;

// Operands: input, h0, w_ih, w_hh[, b_ih, b_hh]. Outputs: output, h_n and, recorded for training, what
// the backward reads.
class RecurrentLayerNode final : public LayerNode {
 public:
  static inline const OpKind kind{"lazyplus::recurrent_layer"};
  RecurrentLayerNode(Operands operands, Shapes shapes, LayerArgs args)
      : LayerNode(kind, std::move(operands), std::move(shapes), args) {}
  HostKernel host_kernel() const override {
    return [a = args_, keep_saved = num_outputs() == 3](const Tensors& in) { return LayerForward(a, in, keep_saved); };
  }
};

// Operands: see LayerBackward. Outputs: the gradients of the forward's operands.
class RecurrentLayerBackwardNode final : public LayerNode {
 public:
  static inline const OpKind kind{"lazyplus::recurrent_layer_backward"};
  RecurrentLayerBackwardNode(Operands operands, Shapes shapes, LayerArgs args)
      : LayerNode(kind, std::move(operands), std::move(shapes), args) {}
  HostKernel host_kernel() const override {
    return [a = args_](const Tensors& in) { return LayerBackward(a, in); };
  }
};

const NodeFactoryRegistration layer_factory(RecurrentLayerNode::kind, &LayerNode::Rebuild<RecurrentLayerNode>);
const NodeFactoryRegistration layer_backward_factory(RecurrentLayerBackwardNode::kind,
                                                     &LayerNode::Rebuild<RecurrentLayerBackwardNode>);

Tensors RecordLayer(const LayerArgs& a, TensorList operands, bool keep_saved) {
  static auto* traced = metrics::GetCounter("lazy::recurrent_layer");
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  Tracer tr(traced);
  Tensors metas = tr.Input(operands);
  const int64_t steps = metas[0].size(0), rows = metas[0].size(1), hidden = metas[3].size(1);
  auto options = metas[0].options();
  Tensors results{at::empty({steps, rows, hidden}, options), at::empty({rows, hidden}, options)};
  if (keep_saved) results.push_back(at::empty({steps, rows, SavedBlocks(a.mode) * hidden}, options));
  return tr.Wrap(MakeNode<RecurrentLayerNode>(tr.TakeOperands(), ShapesOf(results), a), results);
}

Tensors RecordLayerBackward(const LayerArgs& a, TensorList operands, const Tensor& saved, TensorList grad_outputs) {
  static auto* traced = metrics::GetCounter("lazy::recurrent_layer_backward");
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  Tracer tr(traced);
  Tensors metas = tr.Input(operands);  // each gradient is shaped as its operand
  tr.Input(saved);
  tr.Input(grad_outputs);
  for (Tensor& m : metas) m = m.contiguous();
  return tr.Wrap(MakeNode<RecurrentLayerBackwardNode>(tr.TakeOperands(), ShapesOf(metas), a), metas);
}

// Saves the operands for autograd's check that none changed in place before the backward (eager's
// cells save them too); what the forward saved for its backward is internal, held as it is.
class LayerFunction : public torch::autograd::Function<LayerFunction> {
 public:
  static Tensors forward(torch::autograd::AutogradContext* ctx, TensorList operands, const LayerArgs& a,
                         bool keep_saved) {
    Tensors recorded = RecordLayer(a, operands, keep_saved);
    ctx->save_for_backward(operands.vec());
    ctx->saved_data["args"] = c10::ivalue::Tuple::create(LayerArgsCodec::IValues(a));
    if (keep_saved) ctx->saved_data["saved"] = recorded[2];
    return {recorded[0], recorded[1]};
  }

  static Tensors backward(torch::autograd::AutogradContext* ctx, Tensors grad_outputs) {
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "lazyplus: double backward through a recurrent layer recorded as one node is not supported");
    LayerArgs a = LayerArgsCodec::From(ctx->saved_data["args"].toTupleRef().elements().vec());
    Tensors operands = ctx->get_saved_variables();  // raises if one changed in place since the forward
    Tensors grads = RecordLayerBackward(a, operands, ctx->saved_data["saved"].toTensor(), grad_outputs);
    grads.push_back(Tensor());  // args
    grads.push_back(Tensor());  // keep_saved
    return grads;
  }
};

// Where the layers run as LayerForward's nodes: the CPU target (the cells read host memory), float32 or
// float64, every operand on the input's lazyplus device and of its dtype, sizes that fit, no empty
// dimension.
bool RunsAsLayers(const RnnArgs& a, const Tensor& input, const Tensor& hx, TensorList params) {
  if (Target() != "cpu" || a.mode == RnnMode::kLstm || !IsLazy(input) || input.numel() == 0) return false;
  if (input.scalar_type() != at::kFloat && input.scalar_type() != at::kDouble) return false;
  auto matches = [&](const Tensor& t) {
    return t.defined() && t.device() == input.device() && t.scalar_type() == input.scalar_type();
  };
  return matches(hx) && hx.numel() > 0 && std::all_of(params.begin(), params.end(), matches) &&
         RnnOperandsFit(a, input, hx, params);
}

// ATen's apply_layer_stack over sequence-first input: each layer's directions see the previous layer's
// output (directions concatenated), dropout between layers in training.
std::tuple<Tensor, Tensor> RecordLayers(const RnnArgs& a, const Tensor& input, const Tensor& hx, TensorList params) {
  const int64_t directions = a.bidirectional ? 2 : 1, per_stack = a.has_biases ? 4 : 2;
  const bool keep_saved = at::GradMode::is_enabled() &&
                          (input.requires_grad() || hx.requires_grad() ||
                           std::any_of(params.begin(), params.end(), [](const Tensor& t) { return t.requires_grad(); }));
  Tensor layer_input = (a.batch_first ? input.transpose(0, 1) : input).contiguous();
  Tensors h_n;
  for (int64_t layer = 0; layer < a.num_layers; ++layer) {
    Tensors outputs;
    for (int64_t direction = 0; direction < directions; ++direction) {
      const int64_t stack = layer * directions + direction;
      Tensors operands{layer_input, hx[stack]};
      TensorList weights = params.slice(stack * per_stack, per_stack);
      operands.insert(operands.end(), weights.begin(), weights.end());
      Tensors out = LayerFunction::apply(TensorList(operands), LayerArgs{a.mode, direction > 0, a.has_biases}, keep_saved);
      outputs.push_back(out[0]);
      h_n.push_back(out[1]);
    }
    layer_input = directions == 1 ? outputs[0] : at::cat(outputs, -1);
    if (a.dropout != 0 && a.train && layer < a.num_layers - 1) layer_input = at::dropout(layer_input, a.dropout, true);
  }
  return {a.batch_first ? layer_input.transpose(0, 1) : layer_input, at::stack(h_n)};
}

using Decomposed = std::tuple<Tensor, Tensor> (*)(const Tensor&, const Tensor&, TensorList, bool, int64_t, double, bool,
                                                  bool, bool);

std::tuple<Tensor, Tensor> Record(RnnMode mode, const Tensor& input, const Tensor& hx, TensorList params,
                                  bool has_biases, int64_t num_layers, double dropout, bool train, bool bidirectional,
                                  bool batch_first, Decomposed decomposed) {
  const RnnArgs args{mode, has_biases, num_layers, dropout, train, bidirectional, batch_first};
  if (RunsAsLayers(args, input, hx, params)) return RecordLayers(args, input, hx, params);
  auto outputs = RecordRnnSequence(args, input, hx, params);
  if (!outputs) return decomposed(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first);
  return {(*outputs)[0], (*outputs)[1]};
}

std::tuple<Tensor, Tensor> Gru(const Tensor& input, const Tensor& hx, TensorList params, bool has_biases,
                               int64_t num_layers, double dropout, bool train, bool bidirectional, bool batch_first) {
  return Record(RnnMode::kGru, input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first,
              &at::native::gru);
}

std::tuple<Tensor, Tensor> RnnTanh(const Tensor& input, const Tensor& hx, TensorList params, bool has_biases,
                                   int64_t num_layers, double dropout, bool train, bool bidirectional,
                                   bool batch_first) {
  return Record(RnnMode::kRnnTanh, input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
              batch_first, &at::native::rnn_tanh);
}

std::tuple<Tensor, Tensor> RnnRelu(const Tensor& input, const Tensor& hx, TensorList params, bool has_biases,
                                   int64_t num_layers, double dropout, bool train, bool bidirectional,
                                   bool batch_first) {
  return Record(RnnMode::kRnnRelu, input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
              batch_first, &at::native::rnn_relu);
}

TORCH_LIBRARY_IMPL(aten, AutogradPrivateUse1, m) {
  m.impl("gru.input", TORCH_FN(Gru));
  m.impl("rnn_tanh.input", TORCH_FN(RnnTanh));
  m.impl("rnn_relu.input", TORCH_FN(RnnRelu));
}

}  // namespace
}  // namespace lazyplus
