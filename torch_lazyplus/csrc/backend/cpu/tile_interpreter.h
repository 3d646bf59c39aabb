#pragma once
// The CPU's tile interpreter: runs a TileProgram with at::vec, built once per instruction set
// (tile_interpreter_{avx512,avx2,default}.cpp) and picked at run time.
#include "schedule/tile_program.h"

namespace lazyplus {

// Runs `program` over rows x cols. `inputs` and `outputs` are contiguous buffers in program order.
void RunTileProgram(const TileProgram& program, int64_t rows, int64_t cols, const std::vector<const void*>& inputs,
                    const std::vector<void*>& outputs);

// The instruction set the interpreter runs ("avx512", "avx2" or "default"): eager's, unless
// LAZYPLUS_TILE_ISA forces one.
const char* TileIsa();

}  // namespace lazyplus
