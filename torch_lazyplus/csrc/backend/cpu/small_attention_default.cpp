// Small attention kernels built for the compiler's baseline instruction set (see small_attention_impl.h).
#define CPU_CAPABILITY DEFAULT
#include "backend/cpu/small_attention_impl.h"
