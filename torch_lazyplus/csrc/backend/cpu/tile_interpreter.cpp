// Picks the tile interpreter built for the instruction set eager's kernels use (or a forced one).
#include <ATen/Version.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string>

#include "backend/cpu/tile_interpreter.h"

namespace lazyplus {

#define DECLARE_TILE_INTERPRETER(isa)                                                               \
  namespace isa {                                                                                   \
  void RunTileProgramImpl(const TileProgram&, int64_t, int64_t, c10::ArrayRef<const void*>,         \
                          c10::ArrayRef<void*>);                                                    \
  }
DECLARE_TILE_INTERPRETER(AVX512)
DECLARE_TILE_INTERPRETER(AVX2)
DECLARE_TILE_INTERPRETER(DEFAULT)
#undef DECLARE_TILE_INTERPRETER

namespace {

using Impl = void (*)(const TileProgram&, int64_t, int64_t, c10::ArrayRef<const void*>, c10::ArrayRef<void*>);

struct Isa {
  const char* name;
  Impl run;
  bool supported;
};

// Best first.
std::vector<Isa> Compiled() {
  __builtin_cpu_init();
  bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return {{"avx512", &AVX512::RunTileProgramImpl, avx512},
          {"avx2", &AVX2::RunTileProgramImpl, avx2},
          {"default", &DEFAULT::RunTileProgramImpl, true}};
}

// The instruction set eager's own kernels run (ATEN_CPU_CAPABILITY or the CPU's best; at::
// get_cpu_capability says "AVX512", "AVX2" or "DEFAULT"): fused results then round as eager's do.
std::string AtenIsa() {
  std::string isa = at::get_cpu_capability();
  std::transform(isa.begin(), isa.end(), isa.begin(), [](unsigned char c) { return std::tolower(c); });
  return isa;
}

// LAZYPLUS_TILE_ISA ("avx512", "avx2" or "default") forces an instruction set, so that one machine's
// tests can run every path; without it, eager's. An ISA the CPU lacks gives the best one below it.
Isa Detect() {
  const char* forced = std::getenv("LAZYPLUS_TILE_ISA");
  std::string wanted = forced && *forced ? forced : AtenIsa();
  auto isas = Compiled();
  auto it = std::find_if(isas.begin(), isas.end(), [&](const Isa& i) { return wanted == i.name; });
  if (it == isas.end()) {  // forced wrongly, or eager runs an ISA of another architecture
    TORCH_CHECK(!forced || !*forced, "lazyplus: LAZYPLUS_TILE_ISA=", wanted, " is not one of avx512, avx2, default");
    it = isas.end() - 1;
  }
  for (; !it->supported; ++it) {
    TORCH_WARN("lazyplus: this CPU has no ", it->name, "; the tile interpreter uses ", (it + 1)->name);
  }
  return *it;
}

const Isa& Chosen() {
  static const Isa isa = Detect();
  return isa;
}

}  // namespace

void RunTileProgram(const TileProgram& program, int64_t rows, int64_t cols, c10::ArrayRef<const void*> inputs,
                    c10::ArrayRef<void*> outputs) {
  Chosen().run(program, rows, cols, inputs, outputs);
}

const char* TileIsa() { return Chosen().name; }

}  // namespace lazyplus
