// nn.LSTM on lazyplus runs the kernel the CPU runs: one oneDNN node per layer and direction over the
// whole sequence (aten::mkldnn_rnn_layer, whose backward is one node too), not ATen's per-time-step
// decomposition, which a 2-layer LSTM over 64 steps turned into 15,471 nodes per training step.
// ATen takes this path only for CPU tensors (use_mkldnn), so lazyplus chooses it here, as the CPU would.
#include <ATen/Context.h>
#include <ATen/Config.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/dropout.h>
#include <ATen/ops/lstm_native.h>
#include <ATen/ops/mkldnn_rnn_layer.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>

#include "aten/rnn_sequences.h"
#include "backend/backend.h"

namespace lazyplus {
namespace {

using at::Tensor;
using at::TensorList;

constexpr int64_t kOneDnnLstm = 2;  // ideep::rnn_kind::LSTM

// ATen's use_mkldnn for CPU tensors: oneDNN built and enabled, float32, not empty; lstm also needs no
// projections (h and c of one size). Everything on the input's device, or the decomposition raises
// eager's error. Only on the CPU target: oneDNN's kernel takes host memory.
bool CpuUsesOneDnn(const Tensor& input, TensorList hx, TensorList params) {
  if (!AT_MKLDNN_ENABLED() || !at::globalContext().userEnabledMkldnn() || Target() != "cpu") return false;
  if (input.scalar_type() != at::kFloat || input.numel() == 0 || hx.size() != 2) return false;
  if (hx[0].dim() != 3 || hx[1].dim() != 3 || hx[0].size(2) != hx[1].size(2)) return false;
  auto on_input_device = [&](const Tensor& t) { return t.device() == input.device(); };
  return std::all_of(hx.begin(), hx.end(), on_input_device) && std::all_of(params.begin(), params.end(), on_input_device);
}

// ATen's mkldnn_rnn (aten/src/ATen/native/mkldnn/RNN.cpp): the layers see a sequence-first input.
std::tuple<Tensor, Tensor, Tensor> Lstm(const Tensor& input, TensorList hx, TensorList params, bool has_biases,
                                        int64_t num_layers, double dropout, bool train, bool bidirectional,
                                        bool batch_first) {
  if (!CpuUsesOneDnn(input, hx, params)) {  // the CPU's loop of cells, as one node (rnn_sequences.h)
    auto outputs = RecordRnnSequence({RnnMode::kLstm, has_biases, num_layers, dropout, train, bidirectional, batch_first},
                                     input, hx, params);
    if (outputs) return {(*outputs)[0], (*outputs)[1], (*outputs)[2]};
    return at::native::lstm(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first);
  }
  const int64_t directions = bidirectional ? 2 : 1, per_layer = has_biases ? 4 : 2;
  TORCH_CHECK(static_cast<int64_t>(params.size()) == num_layers * directions * per_layer,
              "lstm: expected ", num_layers * directions * per_layer, " parameters, got ", params.size());
  Tensor h = hx[0].contiguous(), c = hx[1].contiguous();
  Tensor layer_input = (batch_first ? input.transpose(0, 1) : input).contiguous();
  std::vector<Tensor> hy, cy;
  for (int64_t layer = 0; layer < num_layers; ++layer) {
    std::vector<Tensor> outputs;
    for (int64_t direction = 0; direction < directions; ++direction) {
      const int64_t index = layer * directions + direction;
      const Tensor* w = &params[index * per_layer];
      Tensor b_ih = has_biases ? w[2] : at::zeros(w[0].sizes(), w[0].options());  // unread without biases
      Tensor b_hh = has_biases ? w[3] : at::zeros(w[1].sizes(), w[1].options());
      auto [out, h_n, c_n, workspace] =
          at::mkldnn_rnn_layer(layer_input, w[0], w[1], b_ih, b_hh, h[index], c[index], /*reverse=*/direction > 0,
                               /*batch_sizes=*/{}, kOneDnnLstm, h.size(2), num_layers, has_biases, bidirectional,
                               /*batch_first=*/false, train);
      outputs.push_back(out);
      hy.push_back(h_n);
      cy.push_back(c_n);
    }
    layer_input = directions == 1 ? outputs[0] : at::cat(outputs, -1);
    if (dropout != 0 && train && layer < num_layers - 1) layer_input = at::dropout(layer_input, dropout, true);
  }
  return {batch_first ? layer_input.transpose(0, 1) : layer_input, at::stack(hy), at::stack(cy)};
}

TORCH_LIBRARY_IMPL(aten, AutogradPrivateUse1, m) { m.impl("lstm.input", TORCH_FN(Lstm)); }

}  // namespace
}  // namespace lazyplus
