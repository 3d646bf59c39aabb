// lazyplus region: 5 inputs, 1 outputs, 7 instructions, computing in float
LP_FN void lazyplus_b2fe4823c0b9d4c3_body(long long cols, const float r0, const float r1, const float r3, const float r4, const float r11, float& y0) {
  const float r6 = static_cast<float>(0x0p+0);
  const float r2 = r1 * r0;
  const float r5 = lp_fma(r4, r3, r2);
  const float r7 = lp_clamp_min(r5, r6);
  const float r8 = r7 * r1;
  const float r9 = float(1) / (float(1) + lp_exp(-r8));
  const float r10 = lp_tanh(r1);
  const float r12 = lp_fma(r10, r11, r9);
  y0 = r12;
}
LP_FN void lazyplus_b2fe4823c0b9d4c3_element(long long i, long long cols, const long long in0, const float* in1, const long long in2, const long long in3, const long long in4, float* out0) {
  float y0;
  lazyplus_b2fe4823c0b9d4c3_body(cols, lp_load<float>(in0), lp_load<float>(in1[i]), lp_load<float>(in2), lp_load<float>(in3), lp_load<float>(in4), y0);
  out0[i] = lp_cast<float>(y0);
}
LP_FN void lazyplus_b2fe4823c0b9d4c3_group(long long q, long long cols, const long long in0, const float* in1, const long long in2, const long long in3, const long long in4, float* out0) {
  const lp_vec4<float> v1 = *reinterpret_cast<const lp_vec4<float>*>(in1 + 4 * q);
  lp_vec4<float> w0;
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const long long i = 4 * q + e;
    float y0;
    lazyplus_b2fe4823c0b9d4c3_body(cols, lp_load<float>(in0), lp_load<float>(v1.v[e]), lp_load<float>(in2), lp_load<float>(in3), lp_load<float>(in4), y0);
    w0.v[e] = lp_cast<float>(y0);
  }
  *reinterpret_cast<lp_vec4<float>*>(out0 + 4 * q) = w0;
}
#ifdef __CUDACC_RTC__
extern "C" __global__ void __launch_bounds__(256, 2) lazyplus_b2fe4823c0b9d4c3_scalar(long long rows, long long cols, const long long in0, const float* in1, const long long in2, const long long in3, const long long in4, float* out0) {
  const long long n = rows * cols, stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    lazyplus_b2fe4823c0b9d4c3_element(i, cols, in0, in1, in2, in3, in4, out0);
}
extern "C" __global__ void __launch_bounds__(256, 2) lazyplus_b2fe4823c0b9d4c3_vec4(long long rows, long long cols, const long long in0, const float* in1, const long long in2, const long long in3, const long long in4, float* out0) {
  const long long n = rows * cols, groups = n / 4, stride = static_cast<long long>(gridDim.x) * blockDim.x;
  const long long t = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (long long q = t; q < groups; q += stride) lazyplus_b2fe4823c0b9d4c3_group(q, cols, in0, in1, in2, in3, in4, out0);
  if (t < n - 4 * groups) lazyplus_b2fe4823c0b9d4c3_element(4 * groups + t, cols, in0, in1, in2, in3, in4, out0);
}
#endif
#ifndef __CUDACC_RTC__
extern "C" void lazyplus_b2fe4823c0b9d4c3_host_scalar(long long rows, long long cols, const void* const* in, void* const* out) {
  for (long long i = 0; i < rows * cols; ++i) lazyplus_b2fe4823c0b9d4c3_element(i, cols, *static_cast<const long long*>(in[0]), static_cast<const float*>(in[1]), *static_cast<const long long*>(in[2]), *static_cast<const long long*>(in[3]), *static_cast<const long long*>(in[4]), static_cast<float*>(out[0]));
}
extern "C" void lazyplus_b2fe4823c0b9d4c3_host_vec4(long long rows, long long cols, const void* const* in, void* const* out) {
  const long long n = rows * cols;
  for (long long q = 0; q < n / 4; ++q) lazyplus_b2fe4823c0b9d4c3_group(q, cols, *static_cast<const long long*>(in[0]), static_cast<const float*>(in[1]), *static_cast<const long long*>(in[2]), *static_cast<const long long*>(in[3]), *static_cast<const long long*>(in[4]), static_cast<float*>(out[0]));
  for (long long i = n / 4 * 4; i < n; ++i) lazyplus_b2fe4823c0b9d4c3_element(i, cols, *static_cast<const long long*>(in[0]), static_cast<const float*>(in[1]), *static_cast<const long long*>(in[2]), *static_cast<const long long*>(in[3]), *static_cast<const long long*>(in[4]), static_cast<float*>(out[0]));
}
#endif
