// lazyplus region: 1 inputs, 1 outputs, 6 instructions, computing in float
template <int K>
LP_FN void lazyplus_31580c34c1f6a172_row(long long row, long long cols, int tid, int threads, float* shared, const float* in0, float* out0) {
  float r0[K];
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const long long col = tid + static_cast<long long>(k) * threads;
    r0[k] = col < cols ? lp_load<float>(in0[row * cols + col]) : float(0);
  }
  float r1 = lp_lowest(float());
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const long long col = tid + static_cast<long long>(k) * threads;
    if (col < cols) r1 = lp_max_op()(r1, r0[k]);
  }
  r1 = lp_block_reduce(r1, lp_max_op(), shared);
  float r2[K];
#pragma unroll
  for (int k = 0; k < K; ++k) {
    r2[k] = r0[k] - r1;
  }
  float r3[K];
#pragma unroll
  for (int k = 0; k < K; ++k) {
    r3[k] = lp_exp(r2[k]);
  }
  float r4 = float(0);
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const long long col = tid + static_cast<long long>(k) * threads;
    if (col < cols) r4 = lp_sum_op()(r4, r3[k]);
  }
  r4 = lp_block_reduce(r4, lp_sum_op(), shared);
  const float r5 = float(1) / r4;
  float r6[K];
#pragma unroll
  for (int k = 0; k < K; ++k) {
    r6[k] = r3[k] * r5;
  }
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const long long col = tid + static_cast<long long>(k) * threads;
    if (col < cols) out0[row * cols + col] = lp_cast<float>(r6[k]);
  }
}
LP_FN void lazyplus_31580c34c1f6a172_looped_row(long long row, long long cols, int tid, int threads, float* shared, const float* in0, float* out0) {
  float r1 = lp_lowest(float());
  for (long long col = tid; col < cols; col += threads) {
    const float r0 = lp_load<float>(in0[row * cols + col]);
    r1 = lp_max_op()(r1, r0);
  }
  r1 = lp_block_reduce(r1, lp_max_op(), shared);
  float r4 = float(0);
  for (long long col = tid; col < cols; col += threads) {
    const float r0 = lp_load<float>(in0[row * cols + col]);
    const float r2 = r0 - r1;
    const float r3 = lp_exp(r2);
    r4 = lp_sum_op()(r4, r3);
  }
  r4 = lp_block_reduce(r4, lp_sum_op(), shared);
  const float r5 = float(1) / r4;
  for (long long col = tid; col < cols; col += threads) {
    const float r0 = lp_load<float>(in0[row * cols + col]);
    const float r2 = r0 - r1;
    const float r3 = lp_exp(r2);
    const float r6 = r3 * r5;
    out0[row * cols + col] = lp_cast<float>(r6);
  }
}
#ifdef __CUDACC_RTC__
extern "C" __global__ void __launch_bounds__(256, 1) lazyplus_31580c34c1f6a172_rows4(long long rows, long long cols, const float* in0, float* out0) {
  __shared__ float shared[32];
  for (long long row = blockIdx.x; row < rows; row += gridDim.x)
    lazyplus_31580c34c1f6a172_row<4>(row, cols, threadIdx.x, blockDim.x, shared, in0, out0);
}
extern "C" __global__ void __launch_bounds__(1024, 1) lazyplus_31580c34c1f6a172_looped(long long rows, long long cols, const float* in0, float* out0) {
  __shared__ float shared[32];
  for (long long row = blockIdx.x; row < rows; row += gridDim.x)
    lazyplus_31580c34c1f6a172_looped_row(row, cols, threadIdx.x, blockDim.x, shared, in0, out0);
}
#endif
#ifndef __CUDACC_RTC__
extern "C" void lazyplus_31580c34c1f6a172_host_rows4(long long rows, long long cols, const void* const* in, void* const* out) {
  float shared[32];
  for (long long row = 0; row < rows; ++row) lazyplus_31580c34c1f6a172_row<1024>(row, cols, 0, 1, shared, static_cast<const float*>(in[0]), static_cast<float*>(out[0]));
}
extern "C" void lazyplus_31580c34c1f6a172_host_looped(long long rows, long long cols, const void* const* in, void* const* out) {
  float shared[32];
  for (long long row = 0; row < rows; ++row) lazyplus_31580c34c1f6a172_looped_row(row, cols, 0, 1, shared, static_cast<const float*>(in[0]), static_cast<float*>(out[0]));
}
#endif
