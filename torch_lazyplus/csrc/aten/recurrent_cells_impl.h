// The cells of recurrent_cells.h, built once per instruction set. The forward is eager's GRUCell and
// SimpleCell (ATen's RNN.cpp) op for op with eager's vectorized sigmoid and tanh, so full vectors give
// eager's bits; the backward applies the chain rule of those ops, as autograd does, in one pass.
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>

#include "aten/recurrent_cells.h"

namespace lazyplus {
namespace CPU_CAPABILITY {
namespace {

template <typename T>
using V = at::vec::Vectorized<T>;

// ATen's vectorized sigmoid (UnaryOpsKernel.cpp).
template <typename T>
V<T> Sigmoid(V<T> x) {
  return (V<T>(1) + x.neg().exp()).reciprocal();
}

// Calls `f(column, count)` over the row's columns: whole vectors, then one partial one.
template <typename T, typename F>
void ForVectors(int64_t columns, F&& f) {
  int64_t j = 0;
  for (; j + V<T>::size() <= columns; j += V<T>::size()) f(j, V<T>::size());
  if (j < columns) f(j, columns - j);
}

// Rows in parallel only where a step is large: a 16 x 256 step is ~2 µs on one thread.
template <typename F>
void ForRows(int64_t rows, int64_t hidden, F&& f) {
  at::parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, hidden)), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) f(row);
  });
}

template <typename T>
V<T> Load(const T* p, int64_t count) {
  return V<T>::loadu(p, count);
}

// GRUCell: r = σ(gh_r + gi_r), z = σ(gh_z + gi_z), n = tanh(gi_n + gh_n·r), h = (h_prev − n)·z + n.
template <typename T>
void GruForward(const CellForward<T>& s) {
  const int64_t H = s.hidden, saved_row = SavedBlocks(RnnMode::kGru) * H;
  ForRows(s.rows, H, [&](int64_t row) {
    const T *gi = s.gi + row * 3 * H, *gh = s.gh + row * 3 * H, *h_prev = s.h_prev + row * H;
    T *h = s.h + row * H, *saved = s.saved ? s.saved + row * saved_row : nullptr;
    ForVectors<T>(H, [&](int64_t j, int64_t count) {
      V<T> r = Sigmoid(Load(gh + j, count) + Load(gi + j, count));
      V<T> z = Sigmoid(Load(gh + H + j, count) + Load(gi + H + j, count));
      V<T> gh_n = Load(gh + 2 * H + j, count);
      V<T> n = (Load(gi + 2 * H + j, count) + gh_n * r).tanh();
      V<T> out = (Load(h_prev + j, count) - n) * z + n;
      out.store(h + j, count);
      if (saved) {
        int64_t block = 0;
        for (V<T> v : {r, z, n, gh_n, out}) v.store(saved + block++ * H + j, count);
      }
    });
  });
}

// With dh = grad_h + carry: dz = dh·(h_prev − n), dn = dh − dh·z, and through tanh and σ as ATen's
// tanh_backward (g·(1 − y²)) and sigmoid_backward (g·(1 − y)·y).
template <typename T>
void GruBackward(const CellBackward<T>& s) {
  const int64_t H = s.hidden, saved_row = SavedBlocks(RnnMode::kGru) * H;
  const V<T> one(1);
  ForRows(s.rows, H, [&](int64_t row) {
    const T *grad_h = s.grad_h + row * H, *saved = s.saved + row * saved_row, *h_prev = s.h_prev + row * s.h_prev_stride;
    T *carry = s.carry + row * H, *grad_gi = s.grad_gi + row * 3 * H, *grad_gh = s.grad_gh + row * 3 * H;
    ForVectors<T>(H, [&](int64_t j, int64_t count) {
      V<T> r = Load(saved + j, count), z = Load(saved + H + j, count), n = Load(saved + 2 * H + j, count);
      V<T> gh_n = Load(saved + 3 * H + j, count);
      V<T> dh = Load(grad_h + j, count) + Load(carry + j, count);
      V<T> direct = dh * z;
      V<T> dz = dh * (Load(h_prev + j, count) - n);
      V<T> dn_pre = (dh - direct) * (one - n * n);
      V<T> dr_pre = dn_pre * gh_n * (one - r) * r;
      V<T> dz_pre = dz * (one - z) * z;
      for (T* g : {grad_gi, grad_gh}) {
        dr_pre.store(g + j, count);
        dz_pre.store(g + H + j, count);
      }
      dn_pre.store(grad_gi + 2 * H + j, count);
      (dn_pre * r).store(grad_gh + 2 * H + j, count);
      direct.store(carry + j, count);
    });
  });
}

// SimpleCell: h = act(gh + gi).
template <typename T>
void RnnForward(RnnMode mode, const CellForward<T>& s) {
  const int64_t H = s.hidden;
  ForRows(s.rows, H, [&](int64_t row) {
    const T *gi = s.gi + row * H, *gh = s.gh + row * H;
    T *h = s.h + row * H, *saved = s.saved ? s.saved + row * H : nullptr;
    ForVectors<T>(H, [&](int64_t j, int64_t count) {
      V<T> pre = Load(gh + j, count) + Load(gi + j, count);
      V<T> out = mode == RnnMode::kRnnTanh ? pre.tanh() : at::vec::clamp_min(pre, V<T>(0));
      out.store(h + j, count);
      if (saved) out.store(saved + j, count);
    });
  });
}

// d pre = (grad_h + carry)·act'(h): tanh_backward's g·(1 − h²), threshold_backward's g where h > 0.
template <typename T>
void RnnBackward(RnnMode mode, const CellBackward<T>& s) {
  const int64_t H = s.hidden;
  const V<T> one(1), zero(0);
  ForRows(s.rows, H, [&](int64_t row) {
    const T *grad_h = s.grad_h + row * H, *carry = s.carry + row * H, *h = s.saved + row * H;
    T* grad_pre = s.grad_gi + row * H;
    ForVectors<T>(H, [&](int64_t j, int64_t count) {
      V<T> dh = Load(grad_h + j, count) + Load(carry + j, count), y = Load(h + j, count);
      V<T> pre = mode == RnnMode::kRnnTanh ? dh * (one - y * y) : V<T>::blendv(zero, dh, y > zero);
      pre.store(grad_pre + j, count);
    });
  });
}

template <typename T>
void Forward(RnnMode mode, const CellForward<T>& step) {
  mode == RnnMode::kGru ? GruForward(step) : RnnForward(mode, step);
}

template <typename T>
void Backward(RnnMode mode, const CellBackward<T>& step) {
  mode == RnnMode::kGru ? GruBackward(step) : RnnBackward(mode, step);
}

}  // namespace

void StepForwardImpl(RnnMode mode, const CellForward<float>& step) { Forward(mode, step); }
void StepForwardImpl(RnnMode mode, const CellForward<double>& step) { Forward(mode, step); }
void StepBackwardImpl(RnnMode mode, const CellBackward<float>& step) { Backward(mode, step); }
void StepBackwardImpl(RnnMode mode, const CellBackward<double>& step) { Backward(mode, step); }

}  // namespace CPU_CAPABILITY
}  // namespace lazyplus
