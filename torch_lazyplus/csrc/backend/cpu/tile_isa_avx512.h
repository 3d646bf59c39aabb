// The feature macros of an AVX-512 target (see tile_isa_avx2.h), for the per-ISA files that include
// this after their `#pragma GCC target`.
#include "backend/cpu/tile_isa_avx2.h"
#define __AVX512F__ 1
#define __AVX512BW__ 1
#define __AVX512VL__ 1
#define __AVX512DQ__ 1
