// lazyplus region: 2 inputs, 1 outputs, 1 instructions, computing in float
LP_FN void lazyplus_216622c07ae6695b_body(long long cols, const float r0, const float r1, float& y0) {
  const float r2 = r1 * r0;
  y0 = r2;
}
LP_FN void lazyplus_216622c07ae6695b_element(long long i, long long cols, const double in0, const float* in1, float* out0) {
  float y0;
  lazyplus_216622c07ae6695b_body(cols, lp_load<float>(in0), lp_load<float>(in1[i]), y0);
  out0[i] = lp_cast<float>(y0);
}
LP_FN void lazyplus_216622c07ae6695b_group(long long q, long long cols, const double in0, const float* in1, float* out0) {
  const lp_vec4<float> v1 = *reinterpret_cast<const lp_vec4<float>*>(in1 + 4 * q);
  lp_vec4<float> w0;
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const long long i = 4 * q + e;
    float y0;
    lazyplus_216622c07ae6695b_body(cols, lp_load<float>(in0), lp_load<float>(v1.v[e]), y0);
    w0.v[e] = lp_cast<float>(y0);
  }
  *reinterpret_cast<lp_vec4<float>*>(out0 + 4 * q) = w0;
}
#ifdef __CUDACC_RTC__
extern "C" __global__ void __launch_bounds__(256, 2) lazyplus_216622c07ae6695b_scalar(long long rows, long long cols, const double in0, const float* in1, float* out0) {
  const long long n = rows * cols, stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    lazyplus_216622c07ae6695b_element(i, cols, in0, in1, out0);
}
extern "C" __global__ void __launch_bounds__(256, 2) lazyplus_216622c07ae6695b_vec4(long long rows, long long cols, const double in0, const float* in1, float* out0) {
  const long long n = rows * cols, groups = n / 4, stride = static_cast<long long>(gridDim.x) * blockDim.x;
  const long long t = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (long long q = t; q < groups; q += stride) lazyplus_216622c07ae6695b_group(q, cols, in0, in1, out0);
  if (t < n - 4 * groups) lazyplus_216622c07ae6695b_element(4 * groups + t, cols, in0, in1, out0);
}
#endif
#ifndef __CUDACC_RTC__
extern "C" void lazyplus_216622c07ae6695b_host_scalar(long long rows, long long cols, const void* const* in, void* const* out) {
  for (long long i = 0; i < rows * cols; ++i) lazyplus_216622c07ae6695b_element(i, cols, *static_cast<const double*>(in[0]), static_cast<const float*>(in[1]), static_cast<float*>(out[0]));
}
extern "C" void lazyplus_216622c07ae6695b_host_vec4(long long rows, long long cols, const void* const* in, void* const* out) {
  const long long n = rows * cols;
  for (long long q = 0; q < n / 4; ++q) lazyplus_216622c07ae6695b_group(q, cols, *static_cast<const double*>(in[0]), static_cast<const float*>(in[1]), static_cast<float*>(out[0]));
  for (long long i = n / 4 * 4; i < n; ++i) lazyplus_216622c07ae6695b_element(i, cols, *static_cast<const double*>(in[0]), static_cast<const float*>(in[1]), static_cast<float*>(out[0]));
}
#endif
// lazyplus region: 3 inputs, 1 outputs, 7 instructions, computing in float
LP_FN void lazyplus_7219eb800eccdd4c_body(long long cols, const float r0, const float r1, const float r2, float& y0) {
  const float r3 = static_cast<float>(0x1p-1);
  const float r6 = static_cast<float>(0x1p+0);
  const float r4 = lp_abs(r2);
  const float r5 = static_cast<float>(r4 < r3);
  const float r7 = r2 - r6;
  const float r8 = r5 != 0 ? r2 : r7;
  const float r9 = r5 != 0 ? r0 : r1;
  const float r10 = r1 - r0;
  const float r11 = lp_fma(r8, r10, r9);
  y0 = r11;
}
LP_FN void lazyplus_7219eb800eccdd4c_element(long long i, long long cols, const float* in0, const float* in1, const double in2, float* out0) {
  float y0;
  lazyplus_7219eb800eccdd4c_body(cols, lp_load<float>(in0[i]), lp_load<float>(in1[i]), lp_load<float>(in2), y0);
  out0[i] = lp_cast<float>(y0);
}
LP_FN void lazyplus_7219eb800eccdd4c_group(long long q, long long cols, const float* in0, const float* in1, const double in2, float* out0) {
  const lp_vec4<float> v0 = *reinterpret_cast<const lp_vec4<float>*>(in0 + 4 * q);
  const lp_vec4<float> v1 = *reinterpret_cast<const lp_vec4<float>*>(in1 + 4 * q);
  lp_vec4<float> w0;
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const long long i = 4 * q + e;
    float y0;
    lazyplus_7219eb800eccdd4c_body(cols, lp_load<float>(v0.v[e]), lp_load<float>(v1.v[e]), lp_load<float>(in2), y0);
    w0.v[e] = lp_cast<float>(y0);
  }
  *reinterpret_cast<lp_vec4<float>*>(out0 + 4 * q) = w0;
}
#ifdef __CUDACC_RTC__
extern "C" __global__ void __launch_bounds__(256, 2) lazyplus_7219eb800eccdd4c_scalar(long long rows, long long cols, const float* in0, const float* in1, const double in2, float* out0) {
  const long long n = rows * cols, stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    lazyplus_7219eb800eccdd4c_element(i, cols, in0, in1, in2, out0);
}
extern "C" __global__ void __launch_bounds__(256, 2) lazyplus_7219eb800eccdd4c_vec4(long long rows, long long cols, const float* in0, const float* in1, const double in2, float* out0) {
  const long long n = rows * cols, groups = n / 4, stride = static_cast<long long>(gridDim.x) * blockDim.x;
  const long long t = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (long long q = t; q < groups; q += stride) lazyplus_7219eb800eccdd4c_group(q, cols, in0, in1, in2, out0);
  if (t < n - 4 * groups) lazyplus_7219eb800eccdd4c_element(4 * groups + t, cols, in0, in1, in2, out0);
}
#endif
#ifndef __CUDACC_RTC__
extern "C" void lazyplus_7219eb800eccdd4c_host_scalar(long long rows, long long cols, const void* const* in, void* const* out) {
  for (long long i = 0; i < rows * cols; ++i) lazyplus_7219eb800eccdd4c_element(i, cols, static_cast<const float*>(in[0]), static_cast<const float*>(in[1]), *static_cast<const double*>(in[2]), static_cast<float*>(out[0]));
}
extern "C" void lazyplus_7219eb800eccdd4c_host_vec4(long long rows, long long cols, const void* const* in, void* const* out) {
  const long long n = rows * cols;
  for (long long q = 0; q < n / 4; ++q) lazyplus_7219eb800eccdd4c_group(q, cols, static_cast<const float*>(in[0]), static_cast<const float*>(in[1]), *static_cast<const double*>(in[2]), static_cast<float*>(out[0]));
  for (long long i = n / 4 * 4; i < n; ++i) lazyplus_7219eb800eccdd4c_element(i, cols, static_cast<const float*>(in[0]), static_cast<const float*>(in[1]), *static_cast<const double*>(in[2]), static_cast<float*>(out[0]));
}
#endif
// lazyplus region: 10 inputs, 1 outputs, 9 instructions, computing in float
LP_FN void lazyplus_b7438736c0505cdf_body(long long cols, const float r0, const float r1, const float r3, const float r4, const float r8, const float r10, const float r11, const float r13, const float r14, const float r17, float& y0) {
  const float r2 = r1 * r0;
  const float r5 = r4 * r3;
  const float r6 = lp_fma(r5, r3, r2);
  const float r7 = lp_sqrt(r6);
  const float r9 = r7 / r8;
  const float r12 = lp_fma(r11, r10, r9);
  const float r15 = r14 * r13;
  const float r16 = r15 / r12;
  const float r18 = r17 + r16;
  y0 = r18;
}
LP_FN void lazyplus_b7438736c0505cdf_element(long long i, long long cols, const double in0, const float* in1, const float* in2, const double in3, const double in4, const long long in5, const double in6, const float* in7, const double in8, const float* in9, float* out0) {
  float y0;
  lazyplus_b7438736c0505cdf_body(cols, lp_load<float>(in0), lp_load<float>(in1[i]), lp_load<float>(in2[i]), lp_load<float>(in3), lp_load<float>(in4), lp_load<float>(in5), lp_load<float>(in6), lp_load<float>(in7[i]), lp_load<float>(in8), lp_load<float>(in9[i]), y0);
  out0[i] = lp_cast<float>(y0);
}
LP_FN void lazyplus_b7438736c0505cdf_group(long long q, long long cols, const double in0, const float* in1, const float* in2, const double in3, const double in4, const long long in5, const double in6, const float* in7, const double in8, const float* in9, float* out0) {
  const lp_vec4<float> v1 = *reinterpret_cast<const lp_vec4<float>*>(in1 + 4 * q);
  const lp_vec4<float> v2 = *reinterpret_cast<const lp_vec4<float>*>(in2 + 4 * q);
  const lp_vec4<float> v7 = *reinterpret_cast<const lp_vec4<float>*>(in7 + 4 * q);
  const lp_vec4<float> v9 = *reinterpret_cast<const lp_vec4<float>*>(in9 + 4 * q);
  lp_vec4<float> w0;
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const long long i = 4 * q + e;
    float y0;
    lazyplus_b7438736c0505cdf_body(cols, lp_load<float>(in0), lp_load<float>(v1.v[e]), lp_load<float>(v2.v[e]), lp_load<float>(in3), lp_load<float>(in4), lp_load<float>(in5), lp_load<float>(in6), lp_load<float>(v7.v[e]), lp_load<float>(in8), lp_load<float>(v9.v[e]), y0);
    w0.v[e] = lp_cast<float>(y0);
  }
  *reinterpret_cast<lp_vec4<float>*>(out0 + 4 * q) = w0;
}
#ifdef __CUDACC_RTC__
extern "C" __global__ void __launch_bounds__(256, 2) lazyplus_b7438736c0505cdf_scalar(long long rows, long long cols, const double in0, const float* in1, const float* in2, const double in3, const double in4, const long long in5, const double in6, const float* in7, const double in8, const float* in9, float* out0) {
  const long long n = rows * cols, stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    lazyplus_b7438736c0505cdf_element(i, cols, in0, in1, in2, in3, in4, in5, in6, in7, in8, in9, out0);
}
extern "C" __global__ void __launch_bounds__(256, 2) lazyplus_b7438736c0505cdf_vec4(long long rows, long long cols, const double in0, const float* in1, const float* in2, const double in3, const double in4, const long long in5, const double in6, const float* in7, const double in8, const float* in9, float* out0) {
  const long long n = rows * cols, groups = n / 4, stride = static_cast<long long>(gridDim.x) * blockDim.x;
  const long long t = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (long long q = t; q < groups; q += stride) lazyplus_b7438736c0505cdf_group(q, cols, in0, in1, in2, in3, in4, in5, in6, in7, in8, in9, out0);
  if (t < n - 4 * groups) lazyplus_b7438736c0505cdf_element(4 * groups + t, cols, in0, in1, in2, in3, in4, in5, in6, in7, in8, in9, out0);
}
#endif
#ifndef __CUDACC_RTC__
extern "C" void lazyplus_b7438736c0505cdf_host_scalar(long long rows, long long cols, const void* const* in, void* const* out) {
  for (long long i = 0; i < rows * cols; ++i) lazyplus_b7438736c0505cdf_element(i, cols, *static_cast<const double*>(in[0]), static_cast<const float*>(in[1]), static_cast<const float*>(in[2]), *static_cast<const double*>(in[3]), *static_cast<const double*>(in[4]), *static_cast<const long long*>(in[5]), *static_cast<const double*>(in[6]), static_cast<const float*>(in[7]), *static_cast<const double*>(in[8]), static_cast<const float*>(in[9]), static_cast<float*>(out[0]));
}
extern "C" void lazyplus_b7438736c0505cdf_host_vec4(long long rows, long long cols, const void* const* in, void* const* out) {
  const long long n = rows * cols;
  for (long long q = 0; q < n / 4; ++q) lazyplus_b7438736c0505cdf_group(q, cols, *static_cast<const double*>(in[0]), static_cast<const float*>(in[1]), static_cast<const float*>(in[2]), *static_cast<const double*>(in[3]), *static_cast<const double*>(in[4]), *static_cast<const long long*>(in[5]), *static_cast<const double*>(in[6]), static_cast<const float*>(in[7]), *static_cast<const double*>(in[8]), static_cast<const float*>(in[9]), static_cast<float*>(out[0]));
  for (long long i = n / 4 * 4; i < n; ++i) lazyplus_b7438736c0505cdf_element(i, cols, *static_cast<const double*>(in[0]), static_cast<const float*>(in[1]), static_cast<const float*>(in[2]), *static_cast<const double*>(in[3]), *static_cast<const double*>(in[4]), *static_cast<const long long*>(in[5]), *static_cast<const double*>(in[6]), static_cast<const float*>(in[7]), *static_cast<const double*>(in[8]), static_cast<const float*>(in[9]), static_cast<float*>(out[0]));
}
#endif
