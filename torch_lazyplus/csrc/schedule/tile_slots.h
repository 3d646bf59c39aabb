#pragma once
// Register allocation for tile programs: registers that are never live at once share one slot of
// the interpreter's scratch memory.
#include "schedule/tile_program.h"

namespace lazyplus {

// Sets `program.slot` and `program.num_slots`.
void AssignSlots(TileProgram& program);

}  // namespace lazyplus
