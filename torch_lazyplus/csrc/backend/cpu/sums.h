#pragma once
// Float32 sums (sums_impl.h), in the tile interpreter's instruction set.
#include <cstdint>

namespace lazyplus {

// out[j] = the sum of column j of the (rows, cols) matrix x. The rows are split into `parts`, summed
// apart into part_totals (zeroed; part p's at p * part_stride) and the parts then added in order.
void ColumnSums(const float* x, int64_t rows, int64_t cols, float* out, double* part_totals, int64_t parts,
                int64_t part_stride);

// The sum of x[i]^2 over [0, n).
double SquaredSum(const float* x, int64_t n);

}  // namespace lazyplus
