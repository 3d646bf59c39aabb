// The fused LSTM and GRU cells (and their backwards) as compositions of pointwise ops: ATen implements
// them for CUDA and XPU only, yet at::lstm_cell and at::gru_cell choose them for PrivateUse1 inputs.
// The ops they call dispatch to the generated lazy kernels, so the fused lowering turns a cell's
// pointwise math back into one kernel.
#include <ATen/TensorOperators.h>
#include <ATen/TensorUtils.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/chunk_ops.h>
#include <ATen/ops/sigmoid_ops.h>
#include <ATen/ops/sum_ops.h>
#include <ATen/ops/tanh_ops.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

namespace lazyplus {
namespace {

using at::Tensor;
using OptTensor = std::optional<Tensor>;

bool Defined(const OptTensor& t) { return t.has_value() && t->defined(); }

// ATen's CUDA checks: 2-d gates of equal size, biases of the gates' width, a state of 1/factor of it.
void CheckCellSizes(at::CheckedFrom c, const Tensor& input_gates, const Tensor& hidden_gates,
                    const OptTensor& input_bias, const OptTensor& hidden_bias, int64_t factor,
                    const Tensor& prev_state) {
  at::TensorArg ig{input_gates, "input_gates", 1}, hg{hidden_gates, "hidden_gates", 2};
  at::checkDim(c, ig, 2);
  at::checkSameSize(c, ig, hg);
  if (Defined(input_bias)) {
    at::TensorArg ib{*input_bias, "input_bias", 3};
    at::checkDim(c, ib, 1);
    at::checkNumel(c, ib, input_gates.size(1));
    TORCH_CHECK(Defined(hidden_bias), c, ": hidden_bias must be given with input_bias");
    at::checkSameSize(c, ib, at::TensorArg{*hidden_bias, "hidden_bias", 4});
  }
  at::TensorArg prev{prev_state, "prev_hidden", 5};
  at::checkDim(c, prev, 2);
  at::checkNumel(c, prev, input_gates.size(0) * input_gates.size(1) / factor);
}

// The gates' pre-activations split per gate: input and hidden parts (biases added) kept apart, since
// the GRU's new gate scales the hidden part by the reset gate.
std::pair<std::vector<Tensor>, std::vector<Tensor>> GateParts(const Tensor& input_gates, const Tensor& hidden_gates,
                                                              const OptTensor& input_bias,
                                                              const OptTensor& hidden_bias, int64_t gates) {
  Tensor in = Defined(input_bias) ? input_gates + *input_bias : input_gates;
  Tensor hid = Defined(hidden_bias) ? hidden_gates + *hidden_bias : hidden_gates;
  return {in.chunk(gates, 1), hid.chunk(gates, 1)};
}

// Returns (hy, cy, workspace); the workspace holds the activated gates i, f, g, o.
std::tuple<Tensor, Tensor, Tensor> FusedLstmCell(const Tensor& input_gates, const Tensor& hidden_gates,
                                                 const Tensor& cx, const OptTensor& input_bias,
                                                 const OptTensor& hidden_bias) {
  CheckCellSizes("_thnn_fused_lstm_cell", input_gates, hidden_gates, input_bias, hidden_bias, 4, cx);
  auto [in, hid] = GateParts(input_gates, hidden_gates, input_bias, hidden_bias, 4);
  Tensor i = (in[0] + hid[0]).sigmoid(), f = (in[1] + hid[1]).sigmoid();
  Tensor g = (in[2] + hid[2]).tanh(), o = (in[3] + hid[3]).sigmoid();
  Tensor cy = f * cx + i * g;
  Tensor hy = o * cy.tanh();
  return {hy, cy, at::cat({i, f, g, o}, 1)};
}

// Returns (grad of the gates' pre-activations, grad_cx, grad_bias).
std::tuple<Tensor, Tensor, Tensor> FusedLstmCellBackward(const OptTensor& grad_hy, const OptTensor& grad_cy,
                                                         const Tensor& cx, const Tensor& cy, const Tensor& workspace,
                                                         bool has_bias) {
  if (!Defined(grad_hy) && !Defined(grad_cy)) return {};
  auto gates = workspace.chunk(4, 1);
  const Tensor &i = gates[0], &f = gates[1], &g = gates[2], &o = gates[3];
  Tensor tanh_cy = cy.tanh();
  // The gradient reaching cy: directly (grad_cy) and through hy = o * tanh(cy).
  Tensor grad_c = Defined(grad_cy) ? *grad_cy : Tensor();
  if (Defined(grad_hy)) {
    Tensor through_tanh = *grad_hy * o * (1 - tanh_cy * tanh_cy);
    grad_c = grad_c.defined() ? grad_c + through_tanh : through_tanh;
  }
  Tensor grad_o_act = Defined(grad_hy) ? *grad_hy * tanh_cy : at::zeros_like(o);
  Tensor grad_gates = at::cat({grad_c * g * (1 - i) * i, grad_c * cx * (1 - f) * f, grad_c * i * (1 - g * g),
                               grad_o_act * (1 - o) * o},
                              1);
  return {grad_gates, grad_c * f, has_bias ? grad_gates.sum(0) : Tensor()};
}

// Returns (hy, workspace); the workspace holds r, z, the new gate n, hx and the hidden part of n.
std::tuple<Tensor, Tensor> FusedGruCell(const Tensor& input_gates, const Tensor& hidden_gates, const Tensor& hx,
                                        const OptTensor& input_bias, const OptTensor& hidden_bias) {
  CheckCellSizes("_thnn_fused_gru_cell", input_gates, hidden_gates, input_bias, hidden_bias, 3, hx);
  auto [in, hid] = GateParts(input_gates, hidden_gates, input_bias, hidden_bias, 3);
  Tensor r = (in[0] + hid[0]).sigmoid(), z = (in[1] + hid[1]).sigmoid();
  Tensor n = (in[2] + r * hid[2]).tanh();
  Tensor hy = n + z * (hx - n);
  return {hy, at::cat({r, z, n, hx, hid[2]}, 1)};
}

// Returns (grad_input_gates, grad_hidden_gates, grad_hx, grad_input_bias, grad_hidden_bias).
std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> FusedGruCellBackward(const Tensor& grad_hy,
                                                                        const Tensor& workspace, bool has_bias) {
  at::checkDim("fused_gru_cell_backward", at::TensorArg{grad_hy, "grad_hy", 1}, 2);
  at::checkSize("fused_gru_cell_backward", at::TensorArg{workspace, "workspace", 2},
                {grad_hy.size(0), grad_hy.size(1) * 5});
  auto saved = workspace.chunk(5, 1);
  const Tensor &r = saved[0], &z = saved[1], &n = saved[2], &hx = saved[3], &hidden_n = saved[4];
  Tensor grad_n = grad_hy * (1 - z) * (1 - n * n);
  Tensor grad_r = grad_n * hidden_n * (1 - r) * r;
  Tensor grad_z = grad_hy * (hx - n) * (1 - z) * z;
  Tensor grad_input = at::cat({grad_r, grad_z, grad_n}, 1);
  Tensor grad_hidden = at::cat({grad_r, grad_z, grad_n * r}, 1);
  Tensor grad_input_bias = has_bias ? grad_input.sum(0) : Tensor();
  Tensor grad_hidden_bias = has_bias ? grad_hidden.sum(0) : Tensor();
  return {grad_input, grad_hidden, grad_hy * z, grad_input_bias, grad_hidden_bias};
}

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("_thnn_fused_lstm_cell", TORCH_FN(FusedLstmCell));
  m.impl("_thnn_fused_lstm_cell_backward_impl", TORCH_FN(FusedLstmCellBackward));
  m.impl("_thnn_fused_gru_cell", TORCH_FN(FusedGruCell));
  m.impl("_thnn_fused_gru_cell_backward", TORCH_FN(FusedGruCellBackward));
}

}  // namespace
}  // namespace lazyplus
