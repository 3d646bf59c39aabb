// Layer norm's forward and backward, built once per instruction set eager builds them for
// (layer_norm_rows_{avx2,default}.cpp) as ATen's layer_norm_kernel.cpp is, with its arithmetic rounded as torch 2.13's build
// rounds it: its moments of a row (moments_utils.h), its at::vec maps and reductions per row, and the
// multiply-adds it has (explicit, or made by its compiler) and only those. The CPU's results bit for
// bit on every ISA (eager runs its AVX2 build on an AVX-512 machine, and so does lazyplus: layer_norm.cpp).
// Forward: one pass for the moments and one for the output, where the tile program it replaced made
// eight passes over a tile and rounded otherwise. Backward: the rows split into ATen's parts (one per
// thread), each part's gamma and beta gradients summed in a buffer of its own and the buffers summed in
// part order. What this saves is ATen's overhead around the arithmetic: a zero-filled buffer tensor, a
// second parallel region for the column sums, and fresh outputs.
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <vector>

#include "backend/cpu/layer_norm_rows_args.h"
#include "backend/cpu/stream_copy.h"
#include "backend/cpu/uncontracted.h"

namespace lazyplus {
namespace CPU_CAPABILITY {
namespace {

using V = at::vec::Vectorized<float>;

// a * b + c rounded once where the ISA has multiply-adds, as g++ contracts it; twice on the default ISA.
float Fma(float a, float b, float c) {
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

// ATen's RowwiseMoments (moments_utils.h) of a float32 row, rounded as torch 2.13's build rounds it:
// Welford's updates per vector lane over chunks of 16 vectors, chunks combined in a cascade, then the
// last N % V::size() values one by one and the lanes combined. Its explicit multiply-adds and those
// g++ made of its combining steps are one rounding; its one-by-one updates two (eager's rstd showed
// both: each other way, 22 of 400 N = 7 rows or 73 of 600 N = 16 values differed).
struct RowMoments {
  int64_t count;
  V mean, m2;
};
const RowMoments kNoValues{0, V(0), V(0)};

void Combine(const RowMoments& add, RowMoments& into) {
  const int64_t n = into.count + add.count;
  const float c = n == 0 ? 0.0f : static_cast<float>(add.count) / static_cast<float>(n);
  const V delta = add.mean - into.mean;
  const V m2 = into.m2 + add.m2;
  const V c_delta = V(c) * delta;
  into.mean = into.mean + Uncontracted(c_delta);  // its product has two uses: g++ left it apart
  into.m2 = at::vec::fmadd(delta * V(static_cast<float>(into.count)), c_delta, m2);
  into.count = n;
}

std::pair<float, float> MeanAndVariance(const float* x, int64_t cols) {
  constexpr int64_t kChunk = 16, kLanes = V::size();
  static const std::array<V, kChunk> kInverse = [] {
    std::array<V, kChunk> inverse;
    for (int64_t j = 0; j < kChunk; ++j) inverse[j] = V(1.0f / static_cast<float>(j + 1));
    return inverse;
  }();
  const int64_t vectors = cols / kLanes, chunks = (vectors + kChunk - 1) / kChunk;
  const int64_t depth = chunks <= 2 ? 1 : 64 - __builtin_clzll(static_cast<uint64_t>(chunks) - 1);
  // A level per doubling of the chunks, only `depth` of them made: an array of vectors built each row
  // (their constructors out of line) was 1.5x the time of a (8, 128, 256) layer norm.
  alignas(RowMoments) unsigned char levels[64 * sizeof(RowMoments)];
  RowMoments* stack = reinterpret_cast<RowMoments*>(levels);
  std::uninitialized_fill_n(stack, depth, kNoValues);
  for (int64_t i = 0; i < chunks; ++i) {
    const int64_t count = std::min(kChunk, vectors - i * kChunk);
    V mean(0), m2(0);  // in registers: a struct's members went through memory, 1.6x the time
    for (int64_t j = 0; j < count; ++j) {
      const V v = V::loadu(x + (i * kChunk + j) * kLanes), delta = v - mean;
      mean = at::vec::fmadd(kInverse[j], delta, mean);
      m2 = at::vec::fmadd(delta, v - mean, m2);
    }
    Combine({count, mean, m2}, stack[0]);
    for (int64_t j = 1, mask = i + 1; j < depth && (mask & 1) == 0; ++j, mask >>= 1) {
      Combine(stack[j - 1], stack[j]);
      stack[j - 1] = kNoValues;
    }
  }
  for (int64_t j = 1; j < depth; ++j) Combine(stack[j], stack[0]);
  std::array<float, kLanes> means, m2s;
  stack[0].mean.store(means.data());
  stack[0].m2.store(m2s.data());
  int64_t count = 0;
  float mean = 0, m2 = 0;
  for (int64_t i = vectors * kLanes; i < cols; ++i) {
    const float delta = x[i] - mean;
    mean += delta / static_cast<float>(++count);
    m2 += Uncontracted(delta * (x[i] - mean));
  }
  for (int64_t lane = 0; lane < kLanes; ++lane) {
    const int64_t n = count + vectors;
    const float c = n == 0 ? 0.0f : static_cast<float>(vectors) / static_cast<float>(n);
    const float delta = means[lane] - mean;
    mean = Fma(c, delta, mean);
    m2 += Fma(delta * delta * c, static_cast<float>(count), m2s[lane]);
    count = n;
  }
  return {mean, m2 / static_cast<float>(cols)};
}

// ATen's second pass over a row (LayerNormSecondPass): (x - mean) * rstd * gamma + beta, with the
// multiply-adds torch 2.13's build made of it where the ISA has them: the last product and the add,
// and without gamma, whose 1 the compiler folded away, (x - mean) * rstd and the add.
void NormalizedRow(const LayerNormForwardArgs& a, int64_t i, float mean, float rstd, float* y) {
  const int64_t n = a.cols;
  const float *x = a.input + i * n, bias = -mean;
  if (a.gamma && a.beta) {
    at::vec::map3<float>([rstd, bias](V v, V g, V b) { return at::vec::fmadd((v + V(bias)) * V(rstd), g, b); }, y,
                         x, a.gamma, a.beta, n);
  } else if (a.gamma) {
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] + bias) * rstd * a.gamma[j] + 0.0f;
  } else if (a.beta) {
    for (int64_t j = 0; j < n; ++j) y[j] = Fma(x[j] + bias, rstd, a.beta[j]);
  } else {
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] + bias) * rstd + 0.0f;
  }
}

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

// Eager's map-reduce of a row's products (at::vec::map{2,3}_reduce_all, + of u * v or u * v * w; `w`
// null: two factors) as torch 2.13's build rounds it: a whole vector's product rounded before the
// running sum takes it, the last partial vector's product and sum one multiply-add. (AVX2 over 12
// shapes: each other way 108 or 27,926 input gradients differed from eager's.)
float SumOfProducts(const float* u, const float* v, const float* w, int64_t n) {
  auto product = [&](int64_t d, int64_t count) {
    const V uv = V::loadu(u + d, count) * V::loadu(v + d, count);
    return w ? uv * V::loadu(w + d, count) : uv;
  };
  auto add = [](V a, V b) { return a + b; };
  if (n < V::size()) return at::vec::vec_reduce_all<float>(add, product(0, n), n);
  V acc = product(0, V::size());
  int64_t d = V::size();
  for (; d < n - n % V::size(); d += V::size()) acc = acc + Uncontracted(product(d, V::size()));
  if (d < n) {
    const int64_t count = n - d;
    const V a = V::loadu(u + d, count), b = V::loadu(v + d, count);
    acc = V::set(acc, w ? at::vec::fmadd(a * b, V::loadu(w + d, count), acc) : at::vec::fmadd(a, b, acc), count);
  }
  return at::vec::vec_reduce_all<float>(add, acc);
}

void InputGradientRow(const LayerNormBackwardArgs& a, int64_t i) {
  const int64_t n = a.cols;
  const float *dy = a.grad_out + i * n, *x = a.input + i * n;
  float ds, db;
  if (a.gamma) {
    ds = SumOfProducts(dy, x, a.gamma, n);
    db = SumOfProducts(dy, a.gamma, nullptr, n);
  } else {
    ds = SumOfProducts(dy, x, nullptr, n);
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

// A large output's rows go through a row of scratch and are streamed past the caches: (4096, 4096)
// took 9.4-9.8 ms so, 10.1-10.9 written in place (the tile program it replaced, streaming: 8.6-9.2).
void LayerNormForwardImpl(const LayerNormForwardArgs& a) {
  const bool stream = a.rows * a.cols * static_cast<int64_t>(sizeof(float)) >= kStreamBytes;
  at::parallel_for(0, a.rows, 1, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> scratch;
    if (stream) scratch.resize(a.cols);
    for (int64_t i = begin; i < end; ++i) {
      auto [mean, var] = MeanAndVariance(a.input + i * a.cols, a.cols);
      const float rstd = 1.0f / std::sqrt(var + a.eps);
      float* y = a.output + i * a.cols;
      NormalizedRow(a, i, mean, rstd, stream ? scratch.data() : y);
      if (stream) StreamCopy(y, scratch.data(), a.cols * sizeof(float));
      a.mean[i] = mean;
      a.rstd[i] = rstd;
    }
    if (stream) StreamFence();
  });
}

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
