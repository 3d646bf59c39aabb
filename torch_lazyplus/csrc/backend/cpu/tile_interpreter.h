#pragma once
// The CPU's tile interpreter: runs a TileProgram with at::vec, built once per instruction set
// (tile_interpreter_{avx512,avx2,default}.cpp) and picked at run time.
#include <c10/util/ArrayRef.h>

#include <string_view>

#include "schedule/tile_program.h"

namespace lazyplus {

// Runs `program` over rows x cols. `inputs` and `outputs` are contiguous buffers in program order.
void RunTileProgram(const TileProgram& program, int64_t rows, int64_t cols, c10::ArrayRef<const void*> inputs,
                    c10::ArrayRef<void*> outputs);

// The instruction set the interpreter runs ("avx512", "avx2" or "default"): eager's, unless
// LAZYPLUS_TILE_ISA forces one.
const char* TileIsa();

// Of a kernel built once per instruction set (ATen's CPU_CAPABILITY convention), the build for TileIsa():
// the cells and rows that sit beside the interpreter follow its choice.
template <typename F>
F* ForTileIsa(F* avx512, F* avx2, F* fallback) {
  const std::string_view isa = TileIsa();
  return isa == "avx512" ? avx512 : isa == "avx2" ? avx2 : fallback;
}

}  // namespace lazyplus
