#pragma once
// The text every generated CUDA source starts with: storage types, conversions and the math of the
// tile ops as eager computes them (device and host definitions side by side, so the generated element
// code also compiles with g++ and runs against eager on the CPU). NVRTC sees no system headers: the
// device half uses builtins and inline PTX only.
namespace lazyplus {

inline constexpr const char* kCudaPreamble = R"(#ifdef __CUDACC_RTC__
#define LP_FN __device__ __forceinline__
LP_FN unsigned lp_float_bits(float f) { return __float_as_uint(f); }
LP_FN float lp_bits_float(unsigned u) { return __uint_as_float(u); }
LP_FN double lp_bits_double(unsigned long long u) { return __longlong_as_double(static_cast<long long>(u)); }
LP_FN float lp_half_to_float(unsigned short h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
LP_FN unsigned short lp_float_to_half(float f) { unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
LP_FN float lp_rsqrt(float x) { return rsqrtf(x); }
LP_FN double lp_rsqrt(double x) { return rsqrt(x); }
#else
#include <c10/util/Half.h>
#include <math.h>
#include <string.h>
#define LP_FN inline
LP_FN unsigned lp_float_bits(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
LP_FN float lp_bits_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
LP_FN double lp_bits_double(unsigned long long u) { double d; memcpy(&d, &u, 8); return d; }
LP_FN float lp_half_to_float(unsigned short h) { return c10::detail::fp16_ieee_to_fp32_value(h); }
LP_FN unsigned short lp_float_to_half(float f) { return c10::detail::fp16_ieee_from_fp32_value(f); }
LP_FN float lp_rsqrt(float x) { return 1.0f / sqrtf(x); }
LP_FN double lp_rsqrt(double x) { return 1.0 / sqrt(x); }
#endif

typedef long long lp_i64;

// Half and bfloat16 elements are their bits; conversions round to nearest even (c10's).
struct lp_half { unsigned short x; };
struct lp_bf16 { unsigned short x; };
LP_FN float lp_bf16_to_float(unsigned short b) { return lp_bits_float(static_cast<unsigned>(b) << 16); }
LP_FN unsigned short lp_float_to_bf16(float f) {
  if (f != f) return 0x7FC0;
  unsigned u = lp_float_bits(f);
  return static_cast<unsigned short>((u + (((u >> 16) & 1) + 0x7FFF)) >> 16);
}

// Loads convert a buffer's element to the compute type, stores back (static_cast, as eager's copy).
template <typename S> struct lp_conv {
  template <typename T> LP_FN static T from(S s) { return static_cast<T>(s); }
  template <typename T> LP_FN static S to(T v) { return static_cast<S>(v); }
};
template <> struct lp_conv<lp_half> {
  template <typename T> LP_FN static T from(lp_half s) { return static_cast<T>(lp_half_to_float(s.x)); }
  template <typename T> LP_FN static lp_half to(T v) { return lp_half{lp_float_to_half(static_cast<float>(v))}; }
};
template <> struct lp_conv<lp_bf16> {
  template <typename T> LP_FN static T from(lp_bf16 s) { return static_cast<T>(lp_bf16_to_float(s.x)); }
  template <typename T> LP_FN static lp_bf16 to(T v) { return lp_bf16{lp_float_to_bf16(static_cast<float>(v))}; }
};
template <typename T, typename S> LP_FN T lp_load(S s) { return lp_conv<S>::template from<T>(s); }
template <typename S, typename T> LP_FN S lp_cast(T v) { return lp_conv<S>::to(v); }
template <typename S> struct alignas(4 * sizeof(S)) lp_vec4 { S v[4]; };
// The row of element i: a 32-bit division where both fit (a 64-bit one is a subroutine, slow and,
// in a kernel with two outputs, enough to make ptxas spill on sm_80).
LP_FN long long lp_row_of(long long i, long long cols) {
  return ((i | cols) >> 31) == 0 ? static_cast<long long>(static_cast<unsigned>(i) / static_cast<unsigned>(cols)) : i / cols;
}

#define LP_MATH(lp, f32, f64) \
  LP_FN float lp(float x) { return f32(x); } \
  LP_FN double lp(double x) { return f64(x); }
LP_MATH(lp_exp, expf, exp) LP_MATH(lp_log, logf, log) LP_MATH(lp_tanh, tanhf, tanh) LP_MATH(lp_sqrt, sqrtf, sqrt)
LP_MATH(lp_erf, erff, erf) LP_MATH(lp_sin, sinf, sin) LP_MATH(lp_cos, cosf, cos) LP_MATH(lp_log1p, log1pf, log1p)
LP_MATH(lp_expm1, expm1f, expm1) LP_MATH(lp_floor, floorf, floor) LP_MATH(lp_ceil, ceilf, ceil)
LP_MATH(lp_trunc, truncf, trunc)
LP_FN float lp_pow(float x, float y) { return powf(x, y); }
LP_FN double lp_pow(double x, double y) { return pow(x, y); }
LP_FN float lp_fma(float a, float b, float c) { return fmaf(a, b, c); }
LP_FN double lp_fma(double a, double b, double c) { return fma(a, b, c); }
LP_FN lp_i64 lp_fma(lp_i64 a, lp_i64 b, lp_i64 c) { return a * b + c; }
template <typename T> LP_FN T lp_abs(T a) { return a < 0 ? -a : (a == 0 ? T(0) : a); }
LP_FN float lp_inf(float) { return lp_bits_float(0x7f800000u); }
LP_FN double lp_inf(double) { return lp_bits_double(0x7ff0000000000000ull); }
LP_FN float lp_nan(float) { return lp_bits_float(0x7fc00000u); }
LP_FN double lp_nan(double) { return lp_bits_double(0x7ff8000000000000ull); }
LP_FN float lp_lowest(float x) { return -lp_inf(x); }
LP_FN double lp_lowest(double x) { return -lp_inf(x); }
LP_FN lp_i64 lp_lowest(lp_i64) { return -0x7fffffffffffffffll - 1; }
LP_FN float lp_highest(float x) { return lp_inf(x); }
LP_FN double lp_highest(double x) { return lp_inf(x); }
LP_FN lp_i64 lp_highest(lp_i64) { return 0x7fffffffffffffffll; }

// NaN in, NaN out; otherwise the first operand unless the second is greater (less): eager's CPU
// vectors, whose max of -0 and +0 is the second.
template <typename T> LP_FN T lp_max(T a, T b) { return a != a ? a : (b != b ? b : (a > b ? a : b)); }
template <typename T> LP_FN T lp_min(T a, T b) { return a != a ? a : (b != b ? b : (a < b ? a : b)); }
// clamp keeps a NaN or a tied input (-0 against +0); a NaN bound gives NaN.
template <typename T> LP_FN T lp_clamp_min(T a, T b) { return b != b ? b : (a < b ? b : a); }
template <typename T> LP_FN T lp_clamp_max(T a, T b) { return b != b ? b : (a > b ? b : a); }
// pow with a scalar exponent: eager's special cases (PowKernel).
template <typename T> LP_FN T lp_pow_scalar(T x, T e) {
  if (e == T(2)) return x * x;
  if (e == T(3)) return x * x * x;
  if (e == T(0.5)) return lp_sqrt(x);
  if (e == T(-0.5)) return lp_rsqrt(x);
  if (e == T(-1)) return T(1) / x;
  if (e == T(-2)) return T(1) / (x * x);
  return lp_pow(x, e);
}
template <typename T> LP_FN T lp_round_bf16(T x) {
  return static_cast<T>(lp_bf16_to_float(lp_float_to_bf16(static_cast<float>(x))));
}
template <typename T> LP_FN T lp_round_half(T x) {
  return static_cast<T>(lp_half_to_float(lp_float_to_half(static_cast<float>(x))));
}
template <typename T> LP_FN T lp_gelu(T x) {
  return x * T(0.5) * (T(1) + lp_erf(x * static_cast<T>(0x1.6a09e667f3bcdp-1)));  // M_SQRT1_2
}
template <typename T> LP_FN T lp_gelu_tanh(T x) {
  const T inner = static_cast<T>(0x1.9884533d43651p-1) * (x + static_cast<T>(0.044715) * x * x * x);  // sqrt(2/pi)
  return T(0.5) * x * (T(1) + lp_tanh(inner));
}
// dy times gelu's derivative at x (eager's vectorized formulas, GeluKernel.cpp).
template <typename T> LP_FN T lp_gelu_backward(T dy, T x) {
  const T cdf = T(0.5) * (T(1) + lp_erf(x * static_cast<T>(0x1.6a09e667f3bcdp-1)));  // M_SQRT1_2
  const T pdf = static_cast<T>(0x1.9884533d43651p-2) * lp_exp(x * x * T(-0.5));     // 1 / sqrt(2 pi)
  return dy * lp_fma(x, pdf, cdf);
}
template <typename T> LP_FN T lp_gelu_tanh_backward(T dy, T x) {
  const T beta = static_cast<T>(0x1.9884533d43651p-1), kappa = static_cast<T>(0.044715);  // sqrt(2/pi)
  const T x_sq = x * x;
  const T tanh_inner = lp_tanh(beta * lp_fma(kappa, x * x_sq, x));
  const T tanh_derivative = lp_fma(-tanh_inner, tanh_inner, T(1));
  const T inner_derivative = beta * lp_fma(T(3) * kappa, x_sq, T(1));
  return dy * (T(0.5) * (T(1) + tanh_inner) + T(0.5) * x * tanh_derivative * inner_derivative);
}

// Row reductions: a block's threads combine their partial values (every thread gets the result).
struct lp_sum_op { template <typename T> LP_FN T operator()(T a, T b) const { return a + b; } };
struct lp_max_op { template <typename T> LP_FN T operator()(T a, T b) const { return lp_max(a, b); } };
struct lp_min_op { template <typename T> LP_FN T operator()(T a, T b) const { return lp_min(a, b); } };
#ifdef __CUDACC_RTC__
template <typename T, typename F> __device__ T lp_block_reduce(T v, F f, T* shared) {
  for (int o = 16; o > 0; o >>= 1) v = f(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int warps = blockDim.x / 32;
  if (warps == 1) return v;
  __syncthreads();  // the previous reduction has read `shared`
  if (threadIdx.x % 32 == 0) shared[threadIdx.x / 32] = v;
  __syncthreads();
  v = shared[0];
  for (int w = 1; w < warps; ++w) v = f(v, shared[w]);
  return v;
}
#else
template <typename T, typename F> T lp_block_reduce(T v, F, T*) { return v; }  // one host thread per row
#endif
)";

}  // namespace lazyplus
