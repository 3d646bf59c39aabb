// Recurrent cells built for the compiler's baseline instruction set (see recurrent_cells_impl.h).
#define CPU_CAPABILITY DEFAULT
#include "aten/recurrent_cells_impl.h"
