// Float32 sums built for the compiler's baseline instruction set (see sums_impl.h).
#define CPU_CAPABILITY DEFAULT
#include "backend/cpu/sums_impl.h"
