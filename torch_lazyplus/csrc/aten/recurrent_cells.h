#pragma once
// The pointwise part of one time step of a GRU or a plain RNN (tanh or relu), forward and backward,
// over `rows` sequences of `hidden` features; vectorized once per instruction set
// (recurrent_cells_{avx512,avx2,default}.cpp). The GEMMs around it are recurrent_layer_kernels.cpp's.
// Eager runs the same step as 8 (GRU) ATen ops forward and ~20 autograd nodes backward.
#include <cstdint>

#include "aten/rnn_sequences.h"

namespace lazyplus {

// Blocks per row of a step that its backward reads: GRU r, z, n, the hidden projection's n block and
// h; RNN h. A copy of h, not the layer's output: eager's backward does not see that output changed in place.
inline int64_t SavedBlocks(RnnMode mode) { return mode == RnnMode::kGru ? 5 : 1; }

// Every pointer addresses rows of contiguous features.
template <typename T>
struct CellForward {
  int64_t rows, hidden;
  const T* gi;      // the input projection (with b_ih), [rows, gates * hidden]
  const T* gh;      // the hidden projection (with b_hh), [rows, gates * hidden]
  const T* h_prev;  // [rows, hidden]
  T* h;             // the step's output, [rows, hidden]
  T* saved;         // [rows, SavedBlocks * hidden], or null where no backward follows
};

template <typename T>
struct CellBackward {
  int64_t rows, hidden;
  const T* grad_h;  // the gradient of h from the layer's output
  T* carry;         // in: the gradient of h from later steps; out (GRU): the part reaching h_prev directly
  const T* saved;   // as the forward wrote it
  const T* h_prev;  // GRU: the step's input state, rows `h_prev_stride` apart
  int64_t h_prev_stride;
  T* grad_gi;       // [rows, gates * hidden]
  T* grad_gh;       // GRU: [rows, gates * hidden]; RNN: the same as grad_gi
};

void StepForward(RnnMode mode, const CellForward<float>& step);
void StepForward(RnnMode mode, const CellForward<double>& step);
void StepBackward(RnnMode mode, const CellBackward<float>& step);
void StepBackward(RnnMode mode, const CellBackward<double>& step);

}  // namespace lazyplus
