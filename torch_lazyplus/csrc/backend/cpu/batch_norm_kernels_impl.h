// Batch norm's float32 kernels (batch_norm_kernels.h), built once per instruction set
// (batch_norm_kernels_{avx512,avx2,default}.cpp) as ATen's batch_norm_kernel.cpp is.
// Input of planes: float64 sums of the values and of their float32 squared deviations from the mean,
// in vector lanes here (ATen: one chain, each add waiting on the last).
// Channels-last input: ATen's float32 sums per part of the rows, kept in registers for blocks of
// channels (ATen loads and stores them again for each row).
// g++ contracts ATen's `x * alpha + beta`, `bias - mean * alpha`, `sum + d * d`, `dot + d * dy` and
// (but in a row's last lanes) `dy - grad_mean - d * k` into multiply-adds where the ISA has them, so
// they are explicit here: at::vec::fmadd and fnmadd are multiply-adds on AVX2 and AVX-512 and two
// roundings on the default ISA.
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "backend/cpu/batch_norm_kernels.h"
#include "backend/cpu/uncontracted.h"

namespace lazyplus {
namespace CPU_CAPABILITY {
namespace {

using V = at::vec::Vectorized<float>;

// The sum, in float64, of f(v) over `batches` runs of `plane` floats `stride` apart: f maps a float,
// or a vector of them, to its own type.
template <typename F>
double ChannelSum(const float* first, int64_t batches, int64_t plane, int64_t stride, const F& f) {
  std::array<double, V::size()> lanes{};
  double tail = 0;
  for (int64_t n = 0; n < batches; ++n) {
    const float* x = first + n * stride;
    int64_t i = 0;
#if defined(CPU_CAPABILITY_AVX512)
    __m512d low = _mm512_setzero_pd(), high = _mm512_setzero_pd();
    for (; i + V::size() <= plane; i += V::size()) {
      const __m512 v = f(V::loadu(x + i));
      low = _mm512_add_pd(low, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
      high = _mm512_add_pd(high, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
    }
    _mm512_storeu_pd(lanes.data(), _mm512_add_pd(_mm512_loadu_pd(lanes.data()), low));
    _mm512_storeu_pd(lanes.data() + 8, _mm512_add_pd(_mm512_loadu_pd(lanes.data() + 8), high));
#elif defined(CPU_CAPABILITY_AVX2)
    __m256d low = _mm256_setzero_pd(), high = _mm256_setzero_pd();
    for (; i + V::size() <= plane; i += V::size()) {
      const __m256 v = f(V::loadu(x + i));
      low = _mm256_add_pd(low, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
      high = _mm256_add_pd(high, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    _mm256_storeu_pd(lanes.data(), _mm256_add_pd(_mm256_loadu_pd(lanes.data()), low));
    _mm256_storeu_pd(lanes.data() + 4, _mm256_add_pd(_mm256_loadu_pd(lanes.data() + 4), high));
#else
    for (; i + V::size() <= plane; i += V::size()) {
      float v[V::size()];
      f(V::loadu(x + i)).store(v);
      for (int k = 0; k < V::size(); ++k) lanes[k] += v[k];
    }
#endif
    for (; i < plane; ++i) tail += f(x[i]);
  }
  for (double lane : lanes) tail += lane;
  return tail;
}

// ATen's constant term of the normalization, `bias - mean * alpha`.
float Beta(float mean, float alpha, float bias) {
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  return std::fma(-mean, alpha, bias);
#else
  return bias - mean * alpha;
#endif
}

// `count` lanes from p (a whole vector, or the row's last lanes).
V Load(const float* p, int count) { return count == V::size() ? V::loadu(p) : V::loadu(p, count); }
void Store(const V& v, float* p, int count) { count == V::size() ? v.store(p) : v.store(p, count); }

// Adds to each channel's kSums float32 sums the terms of the rows, row after row (ATen's order), for
// kBlock vectors of channels from c in registers; the last vector holds `last` lanes. term(acc, i,
// c, count) adds the terms of the elements from i (of channels from c) to acc[0 .. kSums).
template <int kSums, int kBlock, typename Term>
void AddRowsBlock(float* const* sums, int64_t rows, int64_t channels, int64_t c, int last, const Term& term) {
  auto count = [last](int j) { return j + 1 < kBlock ? static_cast<int>(V::size()) : last; };
  V acc[kBlock][kSums];
  for (int j = 0; j < kBlock; ++j) {
    for (int s = 0; s < kSums; ++s) acc[j][s] = Load(sums[s] + c + j * V::size(), count(j));
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int j = 0; j < kBlock; ++j) term(acc[j], r * channels + c + j * V::size(), c + j * V::size(), count(j));
  }
  for (int j = 0; j < kBlock; ++j) {
    for (int s = 0; s < kSums; ++s) Store(acc[j][s], sums[s] + c + j * V::size(), count(j));
  }
}

template <int kSums, typename Term>
void AddRows(float* const* sums, int64_t rows, int64_t channels, const Term& term) {
  constexpr int kBlock = 4;  // 4 vectors of channels (and two sums each) stay in registers on AVX2 too
  int64_t c = 0;
  for (; c + kBlock * V::size() < channels; c += kBlock * V::size()) {
    AddRowsBlock<kSums, kBlock>(sums, rows, channels, c, V::size(), term);
  }
  const int64_t left = channels - c, vectors = (left + V::size() - 1) / V::size();
  const int last = static_cast<int>(left - (vectors - 1) * V::size());
  if (vectors == 1) AddRowsBlock<kSums, 1>(sums, rows, channels, c, last, term);
  if (vectors == 2) AddRowsBlock<kSums, 2>(sums, rows, channels, c, last, term);
  if (vectors == 3) AddRowsBlock<kSums, 3>(sums, rows, channels, c, last, term);
  if (vectors == 4) AddRowsBlock<kSums, 4>(sums, rows, channels, c, last, term);
}

// f(i, c, count) for the vectors of every row, none across channel `split`.
template <typename F>
void ForEachRowVector(int64_t rows, int64_t channels, const F& f, int64_t split) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0, end; c < channels; c = end) {
      end = std::min<int64_t>(c + V::size(), c < split ? split : channels);
      f(r * channels + c, c, static_cast<int>(end - c));
    }
  }
}

}  // namespace

double ChannelValueSumImpl(const float* first, int64_t batches, int64_t plane, int64_t stride) {
  return ChannelSum(first, batches, plane, stride, [](auto v) { return v; });
}

double ChannelSquaredDeviationSumImpl(const float* first, int64_t batches, int64_t plane, int64_t stride,
                                      float mean) {
  return ChannelSum(first, batches, plane, stride, [mean](auto v) {
    const decltype(v) m(mean);
    return (v - m) * (v - m);
  });
}

void NormalizeChannelImpl(float* out, const float* in, int64_t batches, int64_t plane, int64_t stride, float mean,
                          float invstd, float weight, float bias) {
  const float alpha = invstd * weight;
  const V a(alpha), b(Beta(mean, alpha, bias));
  for (int64_t n = 0; n < batches; ++n) {
    const float* x = in + n * stride;
    float* y = out + n * stride;
    int64_t i = 0;
    for (; i + V::size() <= plane; i += V::size()) at::vec::fmadd(V::loadu(x + i), a, b).store(y + i);
    if (i < plane) {
      const int count = static_cast<int>(plane - i);
      at::vec::fmadd(V::loadu(x + i, count), a, b).store(y + i, count);
    }
  }
}

void AddValueRowsImpl(float* sums, const float* x, int64_t rows, int64_t channels) {
  AddRows<1>(&sums, rows, channels,
             [x](V* acc, int64_t i, int64_t, int count) { acc[0] = acc[0] + Load(x + i, count); });
}

void AddSquaredDeviationRowsImpl(float* sums, const float* x, int64_t rows, int64_t channels, const float* mean) {
  AddRows<1>(&sums, rows, channels, [x, mean](V* acc, int64_t i, int64_t c, int count) {
    const V d = Load(x + i, count) - Load(mean + c, count);
    acc[0] = at::vec::fmadd(d, d, acc[0]);
  });
}

void AddGradientRowsImpl(float* dy_sums, float* dot_sums, const float* x, const float* dy, int64_t rows,
                         int64_t channels, const float* mean) {
  float* const sums[] = {dy_sums, dot_sums};
  AddRows<2>(sums, rows, channels, [x, dy, mean](V* acc, int64_t i, int64_t c, int count) {
    const V g = Load(dy + i, count);
    acc[0] = acc[0] + g;
    acc[1] = at::vec::fmadd(Load(x + i, count) - Load(mean + c, count), g, acc[1]);
  });
}

void LinearTermsImpl(float* alpha, float* beta, const float* mean, const float* invstd, const float* weight,
                     const float* bias, int64_t channels) {
  for (int64_t c = 0; c < channels; ++c) {
    alpha[c] = invstd[c] * (weight ? weight[c] : 1.0f);
    beta[c] = Beta(mean[c], alpha[c], bias ? bias[c] : 0.0f);
  }
}

void NormalizeRowsImpl(float* out, const float* x, int64_t rows, int64_t channels, const float* alpha,
                       const float* beta) {
  ForEachRowVector(
      rows, channels,
      [=](int64_t i, int64_t c, int count) {
        Store(at::vec::fmadd(Load(x + i, count), Load(alpha + c, count), Load(beta + c, count)), out + i, count);
      },
      channels);
}

// ATen's channels-last backward is its AVX2 build on AVX-512 machines too (batch norm's kernels have
// no AVX-512 registration): g++ contracted `dy - grad_mean - (x - mean) * k` in its 8-lane vectors,
// not in a row's last channels % 8.
void InputGradientRowsImpl(float* dx, const float* x, const float* dy, int64_t rows, int64_t channels,
                           const RowGradientTerms& t) {
  const int64_t contracted = channels - channels % 8;
  ForEachRowVector(
      rows, channels,
      [=, &t](int64_t i, int64_t c, int count) {
        const V d = Load(x + i, count) - Load(t.mean + c, count), k = Load(t.k + c, count);
        const V shifted = Load(dy + i, count) - Load(t.grad_mean + c, count);
        const V centered = c < contracted ? at::vec::fnmadd(d, k, shifted) : shifted - Uncontracted(d * k);
        Store(centered * Load(t.invstd + c, count) * Load(t.weight + c, count), dx + i, count);
      },
      contracted);
}

extern const BatchNormKernels kBatchNormKernels{
    ChannelValueSumImpl, ChannelSquaredDeviationSumImpl, NormalizeChannelImpl, AddValueRowsImpl,
    AddSquaredDeviationRowsImpl, AddGradientRowsImpl, LinearTermsImpl, NormalizeRowsImpl, InputGradientRowsImpl};

}  // namespace CPU_CAPABILITY
}  // namespace lazyplus
