#include "backend/cpu/sums.h"

#include "backend/cpu/tile_interpreter.h"

namespace lazyplus {

#define DECLARE_SUMS(isa)                                                                    \
  namespace isa {                                                                            \
  void ColumnSumsImpl(const float*, int64_t, int64_t, float*, double*, int64_t, int64_t);   \
  double SquaredSumImpl(const float*, int64_t);                                              \
  }
DECLARE_SUMS(AVX512)
DECLARE_SUMS(AVX2)
DECLARE_SUMS(DEFAULT)
#undef DECLARE_SUMS

void ColumnSums(const float* x, int64_t rows, int64_t cols, float* out, double* part_totals, int64_t parts,
                int64_t part_stride) {
  ForTileIsa(&AVX512::ColumnSumsImpl, &AVX2::ColumnSumsImpl, &DEFAULT::ColumnSumsImpl)(x, rows, cols, out, part_totals,
                                                                                     parts, part_stride);
}

double SquaredSum(const float* x, int64_t n) {
  return ForTileIsa(&AVX512::SquaredSumImpl, &AVX2::SquaredSumImpl, &DEFAULT::SquaredSumImpl)(x, n);
}

}  // namespace lazyplus
