// Cross-entropy backward rows built for the compiler's baseline instruction set (see cross_entropy_rows_impl.h).
#define CPU_CAPABILITY DEFAULT
#include "backend/cpu/cross_entropy_rows_impl.h"
