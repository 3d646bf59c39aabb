// nn.GRU, nn.RNN and the LSTMs oneDNN does not take (projections, oneDNN off) run on the CPU as a loop
// of per-time-step cells; recorded op by op, that loop is tens of nodes per step. Here the whole call is
// one node that runs the CPU's own code on the host, and its backward one node that runs that code again
// under autograd and takes the gradients: the CPU's values and gradients bit for bit, for one more
// forward pass inside the backward.
#include "aten/rnn_sequences.h"

#include <ATen/core/grad_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/gru.h>
#include <ATen/ops/gru_native.h>
#include <ATen/ops/lstm.h>
#include <ATen/ops/rnn_relu.h>
#include <ATen/ops/rnn_relu_native.h>
#include <ATen/ops/rnn_tanh.h>
#include <ATen/ops/rnn_tanh_native.h>
#include <ATen/ops/zeros_like.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include "ir/node_factory.h"
#include "tensor/lazy_tensor.h"
#include "tensor/tracing.h"

namespace lazyplus {
namespace {

using at::Tensor;
using at::TensorList;
using Tensors = std::vector<Tensor>;

size_t NumStates(RnnMode mode) { return mode == RnnMode::kLstm ? 2 : 1; }

hash_t HashOf(const RnnArgs& a) {
  return HashAll(static_cast<int64_t>(a.mode), a.has_biases, a.num_layers, a.dropout, a.train, a.bidirectional,
                 a.batch_first);
}

std::vector<c10::IValue> IValuesOf(const RnnArgs& a) {
  return {static_cast<int64_t>(a.mode), a.has_biases, a.num_layers, a.dropout, a.train, a.bidirectional,
          a.batch_first};
}

RnnArgs ArgsFrom(const std::vector<c10::IValue>& v) {
  TORCH_CHECK(v.size() == 7 && v[0].isInt() && v[0].toInt() >= 0 && v[0].toInt() <= 3,
              "lazyplus: bad attributes of a recurrent sequence node");
  return {static_cast<RnnMode>(v[0].toInt()), v[1].toBool(), v[2].toInt(), v[3].toDouble(), v[4].toBool(),
          v[5].toBool(), v[6].toBool()};
}

std::string TextOf(const RnnArgs& a) {
  static const char* modes[] = {"gru", "rnn_tanh", "rnn_relu", "lstm"};
  return std::string("mode=") + modes[static_cast<int64_t>(a.mode)] + ", has_biases=" + AttrText(a.has_biases) +
         ", num_layers=" + AttrText(a.num_layers) + ", train=" + AttrText(a.train) +
         ", bidirectional=" + AttrText(a.bidirectional) + ", batch_first=" + AttrText(a.batch_first);
}

// The CPU's own call, on host (or meta) tensors: output, h_n[, c_n]. Dropout is 0 here: a call with
// dropout between layers is never recorded as one node.
Tensors Call(const RnnArgs& a, const Tensor& input, TensorList states, TensorList params) {
  switch (a.mode) {
    case RnnMode::kGru: {
      auto [out, h] = at::gru(input, states[0], params, a.has_biases, a.num_layers, 0.0, a.train, a.bidirectional,
                              a.batch_first);
      return {out, h};
    }
    case RnnMode::kRnnTanh: {
      auto [out, h] = at::rnn_tanh(input, states[0], params, a.has_biases, a.num_layers, 0.0, a.train,
                                   a.bidirectional, a.batch_first);
      return {out, h};
    }
    case RnnMode::kRnnRelu: {
      auto [out, h] = at::rnn_relu(input, states[0], params, a.has_biases, a.num_layers, 0.0, a.train,
                                   a.bidirectional, a.batch_first);
      return {out, h};
    }
    case RnnMode::kLstm: {
      auto [out, h, c] = at::lstm(input, states, params, a.has_biases, a.num_layers, 0.0, a.train, a.bidirectional,
                                  a.batch_first);
      return {out, h, c};
    }
  }
  TORCH_CHECK(false, "lazyplus: unknown recurrent mode");
}

// Operands: input, states, params (forward); then the output gradients (backward).
Tensors CallOn(const RnnArgs& a, TensorList forward_operands) {
  const size_t s = NumStates(a.mode);
  return Call(a, forward_operands[0], forward_operands.slice(1, s), forward_operands.slice(1 + s));
}

// A node of one recurrent call: its attributes are the call's arguments.
class RnnNode : public Node {
 public:
  RnnNode(const OpKind& kind, Operands operands, Shapes shapes, RnnArgs args)
      : Node(kind, std::move(operands), std::move(shapes), HashOf(args)), args_(args) {}
  std::string attrs_text() const override { return TextOf(args_); }
  std::vector<c10::IValue> attrs() const override { return IValuesOf(args_); }

 protected:
  RnnArgs args_;
};

class RnnSequenceNode final : public RnnNode {
 public:
  static inline const OpKind kind{"lazyplus::rnn_sequence"};
  RnnSequenceNode(Operands operands, Shapes shapes, RnnArgs args)
      : RnnNode(kind, std::move(operands), std::move(shapes), args) {}
  HostKernel host_kernel() const override {
    return [a = args_](const Tensors& in) {
      at::NoGradGuard no_grad;
      return CallOn(a, in);
    };
  }
};

// The gradients of the forward operands: the forward again under autograd, then its backward.
class RnnSequenceBackwardNode final : public RnnNode {
 public:
  static inline const OpKind kind{"lazyplus::rnn_sequence_backward"};
  RnnSequenceBackwardNode(Operands operands, Shapes shapes, RnnArgs args)
      : RnnNode(kind, std::move(operands), std::move(shapes), args) {}
  HostKernel host_kernel() const override {
    return [a = args_](const Tensors& in) {
      const size_t forward_operands = in.size() - (1 + NumStates(a.mode));
      // A sync may run this below the autograd keys (inside a lazyplus kernel): turn them back on.
      auto tls = c10::impl::tls_local_dispatch_key_set();
      c10::impl::ForceDispatchKeyGuard autograd_keys(tls.included_,
                                                     tls.excluded_ - c10::autograd_dispatch_keyset_with_ADInplaceOrView);
      at::AutoGradMode grad_mode(true);
      Tensors leaves;
      for (size_t i = 0; i < forward_operands; ++i) leaves.push_back(in[i].detach().requires_grad_(true));
      Tensors outputs = CallOn(a, leaves);
      Tensors grads = torch::autograd::grad(outputs, leaves, Tensors(in.begin() + forward_operands, in.end()),
                                            /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
      for (size_t i = 0; i < grads.size(); ++i) {
        if (!grads[i].defined()) grads[i] = at::zeros_like(leaves[i]);
      }
      return grads;
    };
  }
};

template <typename N>
NodePtr Rebuild(Operands operands, Shapes shapes, const std::vector<c10::IValue>& attrs) {
  return MakeNode<N>(std::move(operands), std::move(shapes), ArgsFrom(attrs));
}
const NodeFactoryRegistration forward_factory(RnnSequenceNode::kind, &Rebuild<RnnSequenceNode>);
const NodeFactoryRegistration backward_factory(RnnSequenceBackwardNode::kind, &Rebuild<RnnSequenceBackwardNode>);

std::optional<Tensors> RecordForward(const RnnArgs& a, TensorList operands) {
  static auto* traced = metrics::GetCounter("lazy::rnn_sequence");
  Tracer tr(traced);
  Tensors metas = tr.Input(operands);
  // Shape inference runs the CPU's loop on meta tensors: once per distinct metadata.
  static MetaCache<Tensors> meta_cache;
  hash_t meta_key = tr.MetaKey(HashOf(a));
  auto meta = meta_cache.Find(meta_key);
  if (!meta && (meta = tr.Meta([&] { return CallOn(a, metas); }))) meta_cache.Insert(meta_key, *meta);
  if (!meta) return std::nullopt;
  return tr.Wrap(MakeNode<RnnSequenceNode>(tr.TakeOperands(), ShapesOf(*meta), a), *meta);
}

Tensors RecordBackward(const RnnArgs& a, TensorList forward_operands, TensorList grad_outputs) {
  static auto* traced = metrics::GetCounter("lazy::rnn_sequence_backward");
  Tracer tr(traced);
  Tensors metas = tr.Input(forward_operands);  // each gradient is shaped as its operand
  tr.Input(grad_outputs);
  return tr.Wrap(MakeNode<RnnSequenceBackwardNode>(tr.TakeOperands(), ShapesOf(metas), a), metas);
}

class RnnSequenceFunction : public torch::autograd::Function<RnnSequenceFunction> {
 public:
  static Tensors forward(torch::autograd::AutogradContext* ctx, TensorList operands, const RnnArgs& a,
                         const Tensors& outputs) {
    ctx->save_for_backward(operands.vec());
    ctx->saved_data["args"] = c10::ivalue::Tuple::create(IValuesOf(a));
    return outputs;
  }

  static Tensors backward(torch::autograd::AutogradContext* ctx, Tensors grad_outputs) {
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "lazyplus: double backward through a recurrent layer recorded as one node is not supported");
    RnnArgs a = ArgsFrom(ctx->saved_data["args"].toTupleRef().elements().vec());
    Tensors grads = RecordBackward(a, ctx->get_saved_variables(), grad_outputs);
    grads.push_back(Tensor());  // args
    grads.push_back(Tensor());  // outputs (recorded already, passed through)
    return grads;
  }
};

bool Recordable(const RnnArgs& a, const Tensor& input, TensorList operands) {
  if (input.dim() != 3 || !IsLazy(input) || !at::isFloatingType(input.scalar_type())) return false;
  if (a.dropout != 0 && a.train && a.num_layers > 1) return false;
  return std::all_of(operands.begin(), operands.end(), [&](const Tensor& t) {
    return t.defined() && t.device() == input.device() && t.scalar_type() == input.scalar_type();
  });
}

Tensors Concat(const Tensor& input, TensorList states, TensorList params) {
  Tensors operands{input};
  operands.insert(operands.end(), states.begin(), states.end());
  operands.insert(operands.end(), params.begin(), params.end());
  return operands;
}

using Decomposed = std::tuple<Tensor, Tensor> (*)(const Tensor&, const Tensor&, TensorList, bool, int64_t, double, bool,
                                                  bool, bool);

std::tuple<Tensor, Tensor> Single(RnnMode mode, const Tensor& input, const Tensor& hx, TensorList params,
                                  bool has_biases, int64_t num_layers, double dropout, bool train, bool bidirectional,
                                  bool batch_first, Decomposed decomposed) {
  auto outputs = RecordRnnSequence({mode, has_biases, num_layers, dropout, train, bidirectional, batch_first}, input,
                                   hx, params);
  if (!outputs) return decomposed(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first);
  return {(*outputs)[0], (*outputs)[1]};
}

std::tuple<Tensor, Tensor> Gru(const Tensor& input, const Tensor& hx, TensorList params, bool has_biases,
                               int64_t num_layers, double dropout, bool train, bool bidirectional, bool batch_first) {
  return Single(RnnMode::kGru, input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first,
                &at::native::gru);
}

std::tuple<Tensor, Tensor> RnnTanh(const Tensor& input, const Tensor& hx, TensorList params, bool has_biases,
                                   int64_t num_layers, double dropout, bool train, bool bidirectional,
                                   bool batch_first) {
  return Single(RnnMode::kRnnTanh, input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
                batch_first, &at::native::rnn_tanh);
}

std::tuple<Tensor, Tensor> RnnRelu(const Tensor& input, const Tensor& hx, TensorList params, bool has_biases,
                                   int64_t num_layers, double dropout, bool train, bool bidirectional,
                                   bool batch_first) {
  return Single(RnnMode::kRnnRelu, input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
                batch_first, &at::native::rnn_relu);
}

TORCH_LIBRARY_IMPL(aten, AutogradPrivateUse1, m) {
  m.impl("gru.input", TORCH_FN(Gru));
  m.impl("rnn_tanh.input", TORCH_FN(RnnTanh));
  m.impl("rnn_relu.input", TORCH_FN(RnnRelu));
}

}  // namespace

std::optional<Tensors> RecordRnnSequence(const RnnArgs& args, const Tensor& input, TensorList states,
                                         TensorList params) {
  Tensors operands = Concat(input, states, params);
  if (!Recordable(args, input, operands)) return std::nullopt;
  std::optional<Tensors> outputs;
  {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    outputs = RecordForward(args, operands);
  }
  if (!outputs) return std::nullopt;
  return RnnSequenceFunction::apply(TensorList(operands), args, *outputs);  // a TensorList: its tensors are inputs
}

}  // namespace lazyplus
