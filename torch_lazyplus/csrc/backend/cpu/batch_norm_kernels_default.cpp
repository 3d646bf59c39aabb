// Batch norm's kernels built for the compiler's baseline instruction set (see batch_norm_kernels_impl.h).
#define CPU_CAPABILITY DEFAULT
#include "backend/cpu/batch_norm_kernels_impl.h"
