#pragma once
// Renders a tile program (schedule/tile_program.h) as one self-contained CUDA C source: a register is
// a local, an instruction an expression. It is pure text, so it is tested, and compiled by NVRTC,
// on machines without a GPU; the same text compiles for the host (g++), where its element code runs
// against eager.
//
// Kernels take (rows, cols, inputs..., outputs...): sizes are arguments, so one compiled module serves
// every shape, and host numbers (Python scalars, 0-dim CPU tensors) are arguments by value, so a new
// learning rate is only a new argument. A pointwise program has two entries, a grid-stride loop over elements (`_scalar`) and
// one over groups of four with vector loads and stores (`_vec4`: every full-size buffer aligned to four
// elements). A program with row reductions runs a block per row: `_rows4` holds the row in
// registers, 4 elements in each of up to 256 threads (rows up to 1024 long); `_looped` (any length,
// up to 1024 threads) recomputes from the inputs, in a loop over the row, what each reduction and
// the outputs need. Each kernel has a host twin running its code in one thread.
#include <string>
#include <vector>

#include "schedule/tile_program.h"

namespace lazyplus {

struct CudaSource {
  std::string name;  // lazyplus_<hash of the text>: the kernels' prefix
  std::string text;
  std::vector<std::string> kernels;       // the entry points (extern "C")
  // Their host twins, in the same order: extern "C" void(rows, cols, const void* const* in, void* const* out).
  std::vector<std::string> host_entries;
  std::vector<bool> by_value;  // per input: a host number the kernel takes by value (a host twin: its address)
};

// `by_value`: which inputs are host numbers (none when empty).
CudaSource RenderCuda(const TileProgram& program, const std::vector<bool>& by_value = {});

}  // namespace lazyplus
