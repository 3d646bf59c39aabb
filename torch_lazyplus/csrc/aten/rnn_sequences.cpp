// The LSTMs oneDNN does not take (projections, oneDNN off), and nn.GRU and nn.RNN where recurrent_layers.cpp
// does not take them (reduced precision, the CUDA target), run on the CPU as a loop of per-time-step cells;
// recorded op by op, that loop is tens of nodes per step. Here the whole call is one node that runs the
// CPU's own code on the host, and its backward one node that takes the gradients
// through the autograd graph that code built: the CPU's values and gradients bit for bit. Where the
// graph is gone (a sync between forward and backward stored the outputs), the backward runs the
// forward again under autograd.
#include "aten/rnn_sequences.h"

#include <ATen/core/grad_mode.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/gru.h>
#include <ATen/ops/lstm.h>
#include <ATen/ops/rnn_relu.h>
#include <ATen/ops/rnn_tanh.h>
#include <ATen/ops/zeros_like.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include "ir/node_factory.h"
#include "ir/node_with_args.h"
#include "support/autograd_on.h"
#include "tensor/lazy_tensor.h"
#include "tensor/tracing.h"

namespace lazyplus {
namespace {

using at::Tensor;
using at::TensorList;
using Tensors = std::vector<Tensor>;

size_t NumStates(RnnMode mode) { return mode == RnnMode::kLstm ? 2 : 1; }

// RnnArgs as node attributes (NodeWithArgs).
struct RnnArgsCodec {
  using Args = RnnArgs;
  static hash_t Hash(const RnnArgs& a) {
    return HashAll(static_cast<int64_t>(a.mode), a.has_biases, a.num_layers, a.dropout, a.train, a.bidirectional,
                   a.batch_first);
  }
  static std::vector<c10::IValue> IValues(const RnnArgs& a) {
    return {static_cast<int64_t>(a.mode), a.has_biases, a.num_layers, a.dropout, a.train, a.bidirectional,
            a.batch_first};
  }
  static RnnArgs From(const std::vector<c10::IValue>& v) {
    TORCH_CHECK(v.size() == 7 && v[0].isInt() && v[0].toInt() >= 0 && v[0].toInt() <= 3,
                "lazyplus: bad attributes of a recurrent sequence node");
    return {static_cast<RnnMode>(v[0].toInt()), v[1].toBool(), v[2].toInt(), v[3].toDouble(), v[4].toBool(),
            v[5].toBool(), v[6].toBool()};
  }
  static std::string Text(const RnnArgs& a) {
    static const char* modes[] = {"gru", "rnn_tanh", "rnn_relu", "lstm"};
    return std::string("mode=") + modes[static_cast<int64_t>(a.mode)] + ", has_biases=" + AttrText(a.has_biases) +
           ", num_layers=" + AttrText(a.num_layers) + ", train=" + AttrText(a.train) +
           ", bidirectional=" + AttrText(a.bidirectional) + ", batch_first=" + AttrText(a.batch_first);
  }
};

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
using RnnNode = NodeWithArgs<RnnArgsCodec>;

// Each operand as an autograd leaf over the same memory.
Tensors Leaves(TensorList operands) {
  Tensors leaves;
  for (const Tensor& t : operands) leaves.push_back(t.detach().requires_grad_(true));
  return leaves;
}

// Outputs: output, h_n[, c_n]; recorded for training, then also each operand as the autograd leaf the
// call ran on, so that the backward node reaches the graph the call built.
class RnnSequenceNode final : public RnnNode {
 public:
  static inline const OpKind kind{"lazyplus::rnn_sequence"};
  RnnSequenceNode(Operands operands, Shapes shapes, RnnArgs args)
      : RnnNode(kind, std::move(operands), std::move(shapes), args) {}
  HostKernel host_kernel() const override {
    return [a = args_, keeps_graph = num_outputs() > 1 + NumStates(args_.mode)](const Tensors& in) {
      if (!keeps_graph) {
        at::NoGradGuard no_grad;
        return CallOn(a, in);
      }
      AutogradOn autograd;
      Tensors leaves = Leaves(in), outputs = CallOn(a, leaves);
      outputs.insert(outputs.end(), leaves.begin(), leaves.end());
      return outputs;
    };
  }
};

// Operands: the forward's leaves (or its operands), its outputs, their gradients. Result: the
// gradients of the leaves.
class RnnSequenceBackwardNode final : public RnnNode {
 public:
  static inline const OpKind kind{"lazyplus::rnn_sequence_backward"};
  RnnSequenceBackwardNode(Operands operands, Shapes shapes, RnnArgs args)
      : RnnNode(kind, std::move(operands), std::move(shapes), args) {}
  HostKernel host_kernel() const override {
    return [a = args_](const Tensors& in) {
      const size_t num_outputs = 1 + NumStates(a.mode), num_leaves = in.size() - 2 * num_outputs;
      AutogradOn autograd;
      Tensors leaves(in.begin(), in.begin() + num_leaves);
      Tensors outputs(in.begin() + num_leaves, in.begin() + num_leaves + num_outputs);
      auto graph_alive = std::all_of(leaves.begin(), leaves.end(), [](const Tensor& t) { return t.requires_grad(); }) &&
                         std::all_of(outputs.begin(), outputs.end(), [](const Tensor& t) { return t.grad_fn(); });
      if (!graph_alive) {
        leaves = Leaves(leaves);
        outputs = CallOn(a, leaves);
      }
      // retain_graph: a second backward through the same forward (retain_graph=True upstream) reads it.
      Tensors grads = torch::autograd::grad(outputs, leaves, Tensors(in.end() - num_outputs, in.end()),
                                            /*retain_graph=*/true, /*create_graph=*/false, /*allow_unused=*/true);
      for (size_t i = 0; i < grads.size(); ++i) {
        if (!grads[i].defined()) grads[i] = at::zeros_like(leaves[i]);
      }
      return grads;
    };
  }
};

const NodeFactoryRegistration forward_factory(RnnSequenceNode::kind, &RnnNode::Rebuild<RnnSequenceNode>);
const NodeFactoryRegistration backward_factory(RnnSequenceBackwardNode::kind, &RnnNode::Rebuild<RnnSequenceBackwardNode>);

// The call's outputs as meta tensors, from the operands' sizes: shape inference by a meta call runs the
// whole loop of cells op by op (190 ms for a 2-layer GRU over 32 steps, per new sequence length).
// Nullopt where the operands do not fit together: the meta call then raises eager's error.
std::optional<Tensors> OutputsFromSizes(const RnnArgs& a, TensorList metas) {
  const size_t num_states = NumStates(a.mode);
  const Tensor& input = metas[0];
  TensorList states = metas.slice(1, num_states), params = metas.slice(1 + num_states);
  if (!RnnOperandsFit(a, input, states, params)) return std::nullopt;
  // Fitting operands: states[0] is [layers · directions, batch, out_size], w_hh [gates · hidden, out_size].
  const int64_t directions = a.bidirectional ? 2 : 1, out_size = states[0].size(2);
  const int64_t hidden = params[1].size(0) / GatesOf(a.mode);
  const int64_t time = input.size(a.batch_first ? 1 : 0), batch = input.size(a.batch_first ? 0 : 1);
  auto options = input.options();
  Tensor output = at::empty({time, batch, directions * out_size}, options);
  Tensors outputs{a.batch_first ? output.transpose(0, 1) : output,
                  at::empty({a.num_layers * directions, batch, out_size}, options)};
  if (num_states == 2) outputs.push_back(at::empty({a.num_layers * directions, batch, hidden}, options));
  return outputs;
}

// The call's outputs and, when `keeps_graph`, its leaves (see RnnSequenceNode).
std::optional<Tensors> RecordForward(const RnnArgs& a, TensorList operands, bool keeps_graph) {
  static auto* traced = metrics::GetCounter("lazy::rnn_sequence");
  Tracer tr(traced);
  Tensors metas = tr.Input(operands);
  // Shapes from sizes where the operands fit together, else from the CPU's loop on meta tensors (once
  // per distinct metadata).
  static thread_local MetaCache<Tensors> meta_cache;
  hash_t meta_key = tr.MetaKey(RnnArgsCodec::Hash(a));
  auto meta = meta_cache.Find(meta_key);
  if (!meta) meta = OutputsFromSizes(a, metas);
  if (!meta && (meta = tr.Meta([&] { return CallOn(a, metas); }))) meta_cache.Insert(meta_key, *meta);
  if (!meta) return std::nullopt;
  Tensors results = *meta;
  if (keeps_graph) {
    for (const Tensor& m : metas) results.push_back(m.contiguous());
  }
  return tr.Wrap(MakeNode<RnnSequenceNode>(tr.TakeOperands(), ShapesOf(results), a), results);
}

Tensors RecordBackward(const RnnArgs& a, TensorList leaves, TensorList outputs, TensorList grad_outputs) {
  static auto* traced = metrics::GetCounter("lazy::rnn_sequence_backward");
  Tracer tr(traced);
  Tensors metas = tr.Input(leaves);  // each gradient is shaped as its leaf
  tr.Input(outputs);
  tr.Input(grad_outputs);
  return tr.Wrap(MakeNode<RnnSequenceBackwardNode>(tr.TakeOperands(), ShapesOf(metas), a), metas);
}

Tensors Detached(TensorList tensors) {
  Tensors detached;
  for (const Tensor& t : tensors) detached.push_back(t.detach());
  return detached;
}

// The operands are saved only for autograd's check that none changed in place before the backward (as
// eager's saved weights are); the backward reads the leaves and outputs the forward recorded, held
// detached (an output saved as itself would hold its own grad_fn).
class RnnSequenceFunction : public torch::autograd::Function<RnnSequenceFunction> {
 public:
  static Tensors forward(torch::autograd::AutogradContext* ctx, TensorList operands, const RnnArgs& a,
                         const Tensors& recorded) {
    const size_t num_outputs = 1 + NumStates(a.mode);
    Tensors outputs(recorded.begin(), recorded.begin() + num_outputs);
    ctx->save_for_backward(operands.vec());
    ctx->saved_data["args"] = c10::ivalue::Tuple::create(RnnArgsCodec::IValues(a));
    ctx->saved_data["leaves"] = recorded.size() > num_outputs ? Tensors(recorded.begin() + num_outputs, recorded.end())
                                                              : Detached(operands);
    ctx->saved_data["outputs"] = Detached(outputs);
    return outputs;
  }

  static Tensors backward(torch::autograd::AutogradContext* ctx, Tensors grad_outputs) {
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "lazyplus: double backward through a recurrent layer recorded as one node is not supported");
    ctx->get_saved_variables();  // raises if an operand changed in place since the forward
    RnnArgs a = RnnArgsCodec::From(ctx->saved_data["args"].toTupleRef().elements().vec());
    Tensors grads = RecordBackward(a, ctx->saved_data["leaves"].toTensorVector(),
                                   ctx->saved_data["outputs"].toTensorVector(), grad_outputs);
    grads.push_back(Tensor());  // args
    grads.push_back(Tensor());  // recorded (passed through)
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

}  // namespace

bool RnnOperandsFit(const RnnArgs& a, const Tensor& input, TensorList states, TensorList params) {
  const int64_t directions = a.bidirectional ? 2 : 1, stacks = a.num_layers * directions;
  const int64_t per_stack = stacks > 0 ? static_cast<int64_t>(params.size()) / stacks : 0;
  const int64_t plain = a.has_biases ? 4 : 2;
  const bool projected = a.mode == RnnMode::kLstm && per_stack == plain + 1;
  if (input.dim() != 3 || states.size() != NumStates(a.mode) || stacks <= 0 ||
      per_stack * stacks != static_cast<int64_t>(params.size()) || per_stack != plain + projected ||
      params[1].dim() != 2) {
    return false;
  }
  const int64_t gated = params[1].size(0), hidden = gated / GatesOf(a.mode);
  const int64_t out_size = projected ? params[per_stack - 1].size(0) : hidden;
  const int64_t batch = input.size(a.batch_first ? 0 : 1);
  auto fits = [](const Tensor& t, c10::IntArrayRef sizes) { return t.sizes() == sizes; };
  bool ok = gated == hidden * GatesOf(a.mode) && fits(states[0], {stacks, batch, out_size}) &&
            (states.size() == 1 || fits(states[1], {stacks, batch, hidden}));
  for (int64_t stack = 0; ok && stack < stacks; ++stack) {
    TensorList p = params.slice(stack * per_stack, per_stack);
    int64_t in_size = stack < directions ? input.size(2) : directions * out_size;
    ok = fits(p[0], {gated, in_size}) && fits(p[1], {gated, out_size}) &&
         (!a.has_biases || (fits(p[2], {gated}) && fits(p[3], {gated}))) &&
         (!projected || fits(p[per_stack - 1], {out_size, hidden}));
  }
  return ok;
}

std::optional<Tensors> RecordRnnSequence(const RnnArgs& args, const Tensor& input, TensorList states,
                                         TensorList params) {
  Tensors operands = Concat(input, states, params);
  if (!Recordable(args, input, operands)) return std::nullopt;
  bool keeps_graph = at::GradMode::is_enabled() &&
                     std::any_of(operands.begin(), operands.end(), [](const Tensor& t) { return t.requires_grad(); });
  std::optional<Tensors> recorded;
  {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    recorded = RecordForward(args, operands, keeps_graph);
  }
  if (!recorded) return std::nullopt;
  return RnnSequenceFunction::apply(TensorList(operands), args, *recorded);  // a TensorList: its tensors are inputs
}

}  // namespace lazyplus
