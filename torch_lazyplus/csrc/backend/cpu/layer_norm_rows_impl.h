// Layer norm's backward, built once per instruction set (layer_norm_rows_{avx512,avx2,default}.cpp)
// as ATen's layer_norm_kernel.cpp is, with its arithmetic: the same at::vec maps and reductions per
// row; the rows split into ATen's parts (one per thread), each part's gamma and beta gradients summed
// in a buffer of its own and the buffers summed in part order, so those two are eager's bit for bit.
// The input's gradient is eager's bit for bit on the default ISA; on AVX2 and AVX-512 torch 2.13's
// build rounds it differently in the last bit or two, with the same error against float64. What this
// saves is ATen's overhead around the arithmetic: a zero-filled buffer tensor, a second parallel
// region for the column sums, and fresh outputs.
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>

#include "backend/cpu/layer_norm_backward_args.h"

namespace lazyplus {
namespace CPU_CAPABILITY {
namespace {

using V = at::vec::Vectorized<float>;

void AccumulateParamGradients(const LayerNormBackwardArgs& a, int64_t i, float* gamma_sums, float* beta_sums) {
  const int64_t n = a.cols;
  const float* dy = a.grad_out + i * n;
  if (a.grad_gamma) {
    const float r = a.rstd[i], shift = -r * a.mean[i];
    at::vec::map3<float>([r, shift](V sum, V g, V x) { return sum + g * (V(r) * x + V(shift)); }, gamma_sums,
                         gamma_sums, dy, a.input + i * n, n);
  }
  if (a.grad_beta) at::vec::map2<float>([](V sum, V g) { return sum + g; }, beta_sums, beta_sums, dy, n);
}

void InputGradientRow(const LayerNormBackwardArgs& a, int64_t i) {
  const int64_t n = a.cols;
  const float *dy = a.grad_out + i * n, *x = a.input + i * n;
  auto add = [](V u, V v) { return u + v; };
  float ds, db;
  if (a.gamma) {
    ds = at::vec::map3_reduce_all<float>([](V u, V v, V w) { return u * v * w; }, add, dy, x, a.gamma, n);
    db = at::vec::map2_reduce_all<float>([](V u, V v) { return u * v; }, add, dy, a.gamma, n);
  } else {
    ds = at::vec::map2_reduce_all<float>([](V u, V v) { return u * v; }, add, dy, x, n);
    db = at::vec::reduce_all<float>([](V& u, V& v) { return u + v; }, dy, n);
  }
  const float scale = 1.0f / static_cast<float>(n), r = a.rstd[i], mean = a.mean[i];
  const float b = (db * mean - ds) * r * r * r * scale;
  const float c = -b * mean - db * r * scale;
  float* dx = a.grad_input + i * n;
  if (a.gamma) {
    at::vec::map3<float>([r, b, c](V g, V w, V v) { return V(r) * g * w + V(b) * v + V(c); }, dx, dy, a.gamma, x, n);
  } else {
    at::vec::map2<float>([r, b, c](V g, V v) { return V(r) * g + V(b) * v + V(c); }, dx, dy, x, n);
  }
}

}  // namespace

void LayerNormBackwardImpl(const LayerNormBackwardArgs& a) {
  const int64_t n = a.cols, parts = std::min(a.parts, a.rows), rows_per_part = (a.rows + parts - 1) / parts;
  auto run_part = [&](int64_t p) {
    float* gamma_sums = a.partial_sums + p * a.partial_stride;
    float* beta_sums = a.partial_sums + (a.parts + p) * a.partial_stride;
    for (int64_t i = p * rows_per_part; i < std::min(a.rows, (p + 1) * rows_per_part); ++i) {
      AccumulateParamGradients(a, i, gamma_sums, beta_sums);
      if (a.grad_input) InputGradientRow(a, i);
    }
  };
  at::parallel_for(0, parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) run_part(p);
  });
  if (!a.grad_gamma && !a.grad_beta) return;
  for (int64_t j = 0; j < n; ++j) {
    float gamma_sum = 0, beta_sum = 0;
    for (int64_t p = 0; p < a.parts; ++p) {
      gamma_sum += a.partial_sums[p * a.partial_stride + j];
      beta_sum += a.partial_sums[(a.parts + p) * a.partial_stride + j];
    }
    if (a.grad_gamma) a.grad_gamma[j] = gamma_sum;
    if (a.grad_beta) a.grad_beta[j] = beta_sum;
  }
}

}  // namespace CPU_CAPABILITY
}  // namespace lazyplus
