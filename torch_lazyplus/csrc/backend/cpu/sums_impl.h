// Float32 sums, built once per instruction set (sums_{avx512,avx2,default}.cpp): down the columns of a
// matrix, and of all squares of a vector. Short runs are summed in float32 vector lanes (16 rows of a
// column; 16 squares per lane), the runs' sums added in float64, so each result's error stays that of
// a 16-term float32 sum (ATen's cascade sum starts with blocks of 16 too).
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <array>
#include <cstdint>

namespace lazyplus {
namespace CPU_CAPABILITY {
namespace {

using V = at::vec::Vectorized<float>;
constexpr int64_t kBlockRows = 16;
constexpr int64_t kChunkCols = 256;  // a chunk's block sums stay in L1

// block[j] = the sum of rows [r0, r1) in columns [c0, c0 + width).
void BlockSum(const float* x, int64_t cols, int64_t r0, int64_t r1, int64_t c0, int64_t width, float* block) {
  int64_t j = 0;
  for (; j + V::size() <= width; j += V::size()) {
    V sum = V::loadu(x + r0 * cols + c0 + j);
    for (int64_t r = r0 + 1; r < r1; ++r) sum = sum + V::loadu(x + r * cols + c0 + j);
    sum.store(block + j);
  }
  for (; j < width; ++j) {
    float sum = x[r0 * cols + c0 + j];
    for (int64_t r = r0 + 1; r < r1; ++r) sum += x[r * cols + c0 + j];
    block[j] = sum;
  }
}

// totals[j] = the sum of rows [r0, r1) in column j, in float64.
void PartSums(const float* x, int64_t r0, int64_t r1, int64_t cols, double* totals) {
  std::array<float, kChunkCols> block;
  for (int64_t c0 = 0; c0 < cols; c0 += kChunkCols) {
    const int64_t width = std::min(kChunkCols, cols - c0);
    for (int64_t r = r0; r < r1; r += kBlockRows) {
      BlockSum(x, cols, r, std::min(r1, r + kBlockRows), c0, width, block.data());
      for (int64_t j = 0; j < width; ++j) totals[c0 + j] += block[j];
    }
  }
}

}  // namespace

// Each thread sums its share of the rows, as the pointwise kernel that wrote them split them: inside the
// demo's replayed step its (512, 256) took 25 us on one thread (half of it read from the other core's
// cache), 13 us with each thread summing its half.
void ColumnSumsImpl(const float* x, int64_t rows, int64_t cols, float* out, double* part_totals,
                    int64_t parts, int64_t part_stride) {
  const int64_t rows_per_part = (rows + parts - 1) / parts;
  at::parallel_for(0, parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      PartSums(x, p * rows_per_part, std::min(rows, (p + 1) * rows_per_part), cols, part_totals + p * part_stride);
    }
  });
  for (int64_t j = 0; j < cols; ++j) {
    double sum = 0;
    for (int64_t p = 0; p < parts; ++p) sum += part_totals[p * part_stride + j];
    out[j] = static_cast<float>(sum);
  }
}

// The sum of x[i]^2 over [0, n): 16 squares per lane in float32 (four accumulators of four vectors
// each, so the adds do not wait on one another), each block's lanes then added in float64.
double SquaredSumImpl(const float* x, int64_t n) {
  constexpr int64_t kBlock = 16 * V::size();
  std::array<double, V::size()> lanes{};
  __at_align__ float block[V::size()];
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    V acc[4] = {V(0.0f), V(0.0f), V(0.0f), V(0.0f)};
    for (int64_t k = 0; k < 16; ++k) {
      const V v = V::loadu(x + i + k * V::size());
      acc[k % 4] = acc[k % 4] + v * v;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])).store(block);
    for (int64_t l = 0; l < V::size(); ++l) lanes[l] += block[l];
  }
  double total = 0;
  for (double lane : lanes) total += lane;
  for (; i < n; ++i) total += static_cast<double>(x[i]) * x[i];
  return total;
}

}  // namespace CPU_CAPABILITY
}  // namespace lazyplus
