// Column sums built for the compiler's baseline instruction set (see column_sums_impl.h).
#define CPU_CAPABILITY DEFAULT
#include "backend/cpu/column_sums_impl.h"
