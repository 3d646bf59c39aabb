#include "aten/recurrent_layer_kernels.h"

#include <ATen/Dispatch.h>
#include <ATen/ops/addmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/mm.h>

#include "aten/recurrent_cells.h"
#include "backend/cpu/tile_interpreter.h"

namespace lazyplus {

#define DECLARE_RECURRENT_CELLS(isa)                                      \
  namespace isa {                                                         \
  void StepForwardImpl(RnnMode, const CellForward<float>&);              \
  void StepForwardImpl(RnnMode, const CellForward<double>&);             \
  void StepBackwardImpl(RnnMode, const CellBackward<float>&);            \
  void StepBackwardImpl(RnnMode, const CellBackward<double>&);           \
  }
DECLARE_RECURRENT_CELLS(AVX512)
DECLARE_RECURRENT_CELLS(AVX2)
DECLARE_RECURRENT_CELLS(DEFAULT)
#undef DECLARE_RECURRENT_CELLS

#define DEFINE_STEP(Name, Step, T)                                                                           \
  void Name(RnnMode mode, const Step<T>& step) {                                                             \
    using Impl = void(RnnMode, const Step<T>&);                                                              \
    ForTileIsa<Impl>(&AVX512::Name##Impl, &AVX2::Name##Impl, &DEFAULT::Name##Impl)(mode, step);            \
  }
DEFINE_STEP(StepForward, CellForward, float)
DEFINE_STEP(StepForward, CellForward, double)
DEFINE_STEP(StepBackward, CellBackward, float)
DEFINE_STEP(StepBackward, CellBackward, double)
#undef DEFINE_STEP

namespace {

using at::Tensor;
using Tensors = std::vector<Tensor>;

template <typename T>
T* At(const Tensor& t, int64_t step) {
  return t.data_ptr<T>() + step * t.stride(0);
}

// The time index of the direction's i-th step.
int64_t StepAt(const LayerArgs& a, int64_t steps, int64_t i) { return a.reverse ? steps - 1 - i : i; }

// gh = h · w_hhᵀ + b_hh, as eager's linear_hh (an addmm with the bias).
void HiddenProjection(Tensor& gh, const Tensor& h, const Tensor& w_hh, const Tensor* b_hh) {
  if (b_hh) {
    at::addmm_out(gh, *b_hh, h, w_hh.t());
  } else {
    at::mm_out(gh, h, w_hh.t());
  }
}

// The operands' sizes and dtypes, checked before any pointer is read: a saved graph may be crafted
// (its loader runs these kernels on meta tensors, which take the same checks and return shapes only).
struct Sizes {
  int64_t steps, rows, features, hidden;
};

Sizes CheckForwardOperands(const LayerArgs& a, const Tensors& in, size_t extra) {
  TORCH_CHECK(in.size() == (a.has_biases ? 6u : 4u) + extra, "lazyplus: a recurrent layer node takes ",
              (a.has_biases ? 6 : 4) + extra, " operands, got ", in.size());
  const Tensor& input = in[0];
  TORCH_CHECK(input.dim() == 3 && in[3].dim() == 2, "lazyplus: a recurrent layer takes a [T, B, I] input");
  const int64_t hidden = in[3].size(1), gated = GatesOf(a.mode) * hidden;
  const Sizes s{input.size(0), input.size(1), input.size(2), hidden};
  auto check = [&](const Tensor& t, c10::IntArrayRef sizes, const char* what) {
    TORCH_CHECK(t.sizes() == sizes && t.scalar_type() == input.scalar_type() && t.device() == input.device(),
                "lazyplus: a recurrent layer's ", what, " is ", t.sizes(), " ", t.scalar_type(), ", expected ", sizes,
                " ", input.scalar_type());
  };
  check(in[1], {s.rows, hidden}, "h0");
  check(in[2], {gated, s.features}, "w_ih");
  check(in[3], {gated, hidden}, "w_hh");
  if (a.has_biases) {
    check(in[4], {gated}, "b_ih");
    check(in[5], {gated}, "b_hh");
  }
  TORCH_CHECK(input.scalar_type() == at::kFloat || input.scalar_type() == at::kDouble,
              "lazyplus: a recurrent layer node runs float32 or float64, not ", input.scalar_type());
  TORCH_CHECK(input.is_cpu() || input.is_meta(), "lazyplus: a recurrent layer node runs on host memory only");
  return s;
}

at::TensorOptions OptionsOf(const Tensor& t) { return t.options().memory_format(std::nullopt); }

}  // namespace

Tensors LayerForward(const LayerArgs& a, const Tensors& in, bool keep_saved) {
  const Sizes sizes = CheckForwardOperands(a, in, 0);
  const int64_t steps = sizes.steps, rows = sizes.rows, hidden = sizes.hidden;
  const at::TensorOptions options = OptionsOf(in[0]);
  Tensor output = at::empty({steps, rows, hidden}, options);
  Tensor saved = at::empty({keep_saved ? steps : 0, rows, SavedBlocks(a.mode) * hidden}, options);
  if (in[0].is_meta()) {
    Tensors outputs{output, at::empty({rows, hidden}, options)};
    if (keep_saved) outputs.push_back(saved);
    return outputs;
  }
  const Tensor input = in[0].contiguous(), h0 = in[1].contiguous(), &w_ih = in[2], &w_hh = in[3];
  const Tensor* b_hh = a.has_biases ? &in[5] : nullptr;
  const int64_t gates = GatesOf(a.mode);
  const Tensor gi = at::linear(input, w_ih, a.has_biases ? in[4] : Tensor());  // every step's, as eager
  Tensor gh = at::empty({rows, gates * hidden}, options);
  Tensor h = h0;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "lazyplus_recurrent_layer", [&] {
    for (int64_t i = 0; i < steps; ++i) {
      const int64_t t = StepAt(a, steps, i);
      HiddenProjection(gh, h, w_hh, b_hh);
      StepForward(a.mode, CellForward<scalar_t>{rows, hidden, At<scalar_t>(gi, t), gh.data_ptr<scalar_t>(),
                                                h.data_ptr<scalar_t>(), At<scalar_t>(output, t),
                                                keep_saved ? At<scalar_t>(saved, t) : nullptr});
      h = output[t];
    }
  });
  Tensors outputs{output, h.clone()};
  if (keep_saved) outputs.push_back(saved);
  return outputs;
}

Tensors LayerBackward(const LayerArgs& a, const Tensors& in) {
  const Sizes sizes = CheckForwardOperands(a, in, 3);
  const int64_t steps = sizes.steps, rows = sizes.rows, hidden = sizes.hidden;
  const Tensor &saved_in = in[in.size() - 3], &grad_output_in = in[in.size() - 2], &grad_h_n = in.back();
  for (const Tensor* t : {&saved_in, &grad_output_in, &grad_h_n}) {
    TORCH_CHECK(t->scalar_type() == in[0].scalar_type() && t->device() == in[0].device(),
                "lazyplus: a recurrent layer's backward takes operands of its input's dtype");
  }
  TORCH_CHECK(saved_in.sizes() == c10::IntArrayRef({steps, rows, SavedBlocks(a.mode) * hidden}) &&
                  grad_output_in.sizes() == c10::IntArrayRef({steps, rows, hidden}) &&
                  grad_h_n.sizes() == c10::IntArrayRef({rows, hidden}),
              "lazyplus: a recurrent layer's backward operands do not fit its forward's");
  if (in[0].is_meta()) {
    Tensors grads;
    for (size_t i = 0; i < in.size() - 3; ++i) grads.push_back(at::empty(in[i].sizes(), OptionsOf(in[i])));
    return grads;
  }
  const bool gru = a.mode == RnnMode::kGru;
  const Tensor input = in[0].contiguous(), h0 = in[1].contiguous(), &w_ih = in[2], &w_hh = in[3];
  const Tensor saved = saved_in.contiguous(), grad_output = grad_output_in.contiguous();
  Tensor carry = grad_h_n.contiguous().clone();
  const int64_t gates = GatesOf(a.mode);
  // Each step's output h, [T, B, H] with rows SavedBlocks · H apart.
  const Tensor h = saved.narrow(2, (SavedBlocks(a.mode) - 1) * hidden, hidden);
  Tensor grad_gi = at::empty({steps, rows, gates * hidden}, OptionsOf(input));
  Tensor grad_gh = gru ? at::empty_like(grad_gi) : grad_gi;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "lazyplus_recurrent_layer_backward", [&] {
    for (int64_t i = steps - 1; i >= 0; --i) {
      const int64_t t = StepAt(a, steps, i);
      const Tensor h_prev = i == 0 ? h0 : h[StepAt(a, steps, i - 1)];
      StepBackward(a.mode, CellBackward<scalar_t>{rows, hidden, At<scalar_t>(grad_output, t), carry.data_ptr<scalar_t>(),
                                                  At<scalar_t>(saved, t), h_prev.data_ptr<scalar_t>(), h_prev.stride(0),
                                                  At<scalar_t>(grad_gi, t), At<scalar_t>(grad_gh, t)});
      if (gru) {
        carry.addmm_(grad_gh[t], w_hh);  // the direct part dh·z plus the hidden projection's
      } else {
        at::mm_out(carry, grad_gh[t], w_hh);
      }
    }
  });
  // Step t's h_prev is the output of the step before it, the first step's h0.
  Tensor grad_w_hh = at::mm(grad_gh[StepAt(a, steps, 0)].t(), h0);
  if (steps > 1) {
    Tensor later = grad_gh.narrow(0, a.reverse ? 0 : 1, steps - 1), earlier = h.narrow(0, a.reverse ? 1 : 0, steps - 1);
    grad_w_hh.addmm_(later.reshape({-1, gates * hidden}).t(), earlier.reshape({-1, hidden}));
  }
  Tensor flat_grad_gi = grad_gi.view({-1, gates * hidden});
  Tensors grads{at::mm(flat_grad_gi, w_ih).view(input.sizes()), carry,
                at::mm(flat_grad_gi.t(), input.view({-1, sizes.features})), grad_w_hh};
  if (a.has_biases) {
    grads.push_back(flat_grad_gi.sum(0));
    grads.push_back(grad_gh.view({-1, gates * hidden}).sum(0));
  }
  return grads;
}

}  // namespace lazyplus
