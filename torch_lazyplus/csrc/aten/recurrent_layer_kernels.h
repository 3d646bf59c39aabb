#pragma once
// One layer and direction of a GRU or plain RNN over a whole sequence, on host tensors: the input
// projection of every step as one GEMM (as eager's CPU loop does), then per step the hidden projection's
// GEMM and one vectorized cell (recurrent_cells.h). The backward runs the steps in reverse with one GEMM
// and one cell each, then takes the weight and input gradients of all steps as single GEMMs.
#include <ATen/core/Tensor.h>

#include <vector>

#include "aten/rnn_sequences.h"

namespace lazyplus {

struct LayerArgs {
  RnnMode mode;  // kGru, kRnnTanh or kRnnRelu
  bool reverse;  // the direction that runs from the last step to the first
  bool has_biases;
};

// in: input [T, B, I], h0 [B, H], w_ih [G·H, I], w_hh [G·H, H][, b_ih, b_hh]. Returns output [T, B, H],
// h_n [B, H] and, where `keep_saved`, what its backward reads ([T, B, SavedBlocks · H]).
std::vector<at::Tensor> LayerForward(const LayerArgs& args, const std::vector<at::Tensor>& in, bool keep_saved);

// in: the forward's operands, what it saved, grad_output, grad_h_n. Returns the gradients of
// input, h0, w_ih, w_hh[, b_ih, b_hh].
std::vector<at::Tensor> LayerBackward(const LayerArgs& args, const std::vector<at::Tensor>& in);

}  // namespace lazyplus
