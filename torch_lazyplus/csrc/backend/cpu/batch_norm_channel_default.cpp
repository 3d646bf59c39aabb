// Batch norm's channel kernels built for the compiler's baseline instruction set (see batch_norm_channel_impl.h).
#define CPU_CAPABILITY DEFAULT
#include "backend/cpu/batch_norm_channel_impl.h"
