// Layer norm's row kernels built for AVX2 (see layer_norm_rows_impl.h).
#pragma GCC target("avx2,avx,fma,f16c,bmi,bmi2,lzcnt,popcnt")
#include "backend/cpu/tile_isa_avx2.h"
#define CPU_CAPABILITY AVX2
#define CPU_CAPABILITY_AVX2
#include "backend/cpu/layer_norm_rows_impl.h"
