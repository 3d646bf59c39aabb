// Picks the tile interpreter built for the best instruction set this CPU supports.
#include "lowering/tile_program.h"

namespace lazyplus {

#define DECLARE_TILE_INTERPRETER(isa)                                                                 \
  namespace isa {                                                                                     \
  void RunTileProgramImpl(const TileProgram&, int64_t, int64_t, const std::vector<const void*>&,       \
                          const std::vector<void*>&);                                                 \
  }
DECLARE_TILE_INTERPRETER(AVX512)
DECLARE_TILE_INTERPRETER(AVX2)
DECLARE_TILE_INTERPRETER(DEFAULT)
#undef DECLARE_TILE_INTERPRETER

namespace {

using Impl = void (*)(const TileProgram&, int64_t, int64_t, const std::vector<const void*>&,
                      const std::vector<void*>&);

struct Isa {
  const char* name;
  Impl run;
};

Isa Detect() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    return {"avx512", &AVX512::RunTileProgramImpl};
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {"avx2", &AVX2::RunTileProgramImpl};
  return {"default", &DEFAULT::RunTileProgramImpl};
}

const Isa& Best() {
  static const Isa isa = Detect();
  return isa;
}

}  // namespace

void RunTileProgram(const TileProgram& program, int64_t rows, int64_t cols, const std::vector<const void*>& inputs,
                    const std::vector<void*>& outputs) {
  Best().run(program, rows, cols, inputs, outputs);
}

const char* TileIsa() { return Best().name; }

}  // namespace lazyplus
