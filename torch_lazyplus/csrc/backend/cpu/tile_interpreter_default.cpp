// The tile interpreter built for the compiler's baseline instruction set (see tile_interpreter_impl.h).
#define CPU_CAPABILITY DEFAULT
#include "backend/cpu/tile_interpreter_impl.h"
