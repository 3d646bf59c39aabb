// Layer norm's row kernels built for the compiler's baseline instruction set (see layer_norm_rows_impl.h).
#define CPU_CAPABILITY DEFAULT
#include "backend/cpu/layer_norm_rows_impl.h"
