// Batch norm's kernels built for AVX-512 (see batch_norm_kernels_impl.h and tile_isa_avx512.h).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,avx,fma,f16c,bmi,bmi2,lzcnt,popcnt")
#include "backend/cpu/tile_isa_avx512.h"
#define CPU_CAPABILITY AVX512
#define CPU_CAPABILITY_AVX512
#include "backend/cpu/batch_norm_kernels_impl.h"
