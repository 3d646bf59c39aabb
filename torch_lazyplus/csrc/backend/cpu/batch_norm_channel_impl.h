// Batch norm's training forward over one channel, built once per instruction set (batch_norm_channel_
// {avx512,avx2,default}.cpp) as ATen's batch_norm_kernel.cpp is. Its statistics: float64 sums of the
// values and of their float32 squared deviations from the mean, in vector lanes here (ATen: one chain,
// each add waiting on the last); its normalization: g++ contracts ATen's `x * alpha + beta` and `bias -
// mean * alpha` into multiply-adds where the ISA has them, so they are explicit here.
#include <ATen/cpu/vec/vec.h>

#include <array>
#include <cmath>
#include <cstdint>

namespace lazyplus {
namespace CPU_CAPABILITY {
namespace {

// The sum, in float64, of f(v) over `batches` runs of `plane` floats `stride` apart: f maps a float,
// or a vector of them, to its own type.
template <typename F>
double ChannelSum(const float* first, int64_t batches, int64_t plane, int64_t stride, const F& f) {
  using V = at::vec::Vectorized<float>;
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
  using V = at::vec::Vectorized<float>;
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  const float alpha = invstd * weight, beta = std::fma(-mean, alpha, bias);
#else
  const float alpha = invstd * weight, beta = bias - mean * alpha;
#endif
  const V a(alpha), b(beta);
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

}  // namespace CPU_CAPABILITY
}  // namespace lazyplus
