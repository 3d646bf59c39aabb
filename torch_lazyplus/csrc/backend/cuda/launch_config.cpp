#include "backend/cuda/launch_config.h"

#include <algorithm>

namespace lazyplus {
namespace {

constexpr int kWarp = 32;
constexpr int kPointwiseThreads = 256;
// Grid-stride kernels need no more blocks than fill the device a few times over: 8 blocks of 256
// threads per SM is 2048 threads, an SM's maximum on sm_80 and sm_90.
constexpr int kBlocksPerMultiprocessor = 8;
constexpr int64_t kRegisterRow = 1024;  // the `_rows4` kernel: 4 elements in each of 256 threads

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
int RoundUpToWarp(int64_t n) { return static_cast<int>(CeilDiv(n, kWarp) * kWarp); }

}  // namespace

LaunchConfig ConfigureLaunch(bool whole_rows, int64_t rows, int64_t cols, bool aligned, int multiprocessors) {
  int64_t max_blocks = static_cast<int64_t>(std::max(multiprocessors, 1)) * kBlocksPerMultiprocessor;
  if (!whole_rows) {
    int64_t items = aligned ? CeilDiv(rows * cols, 4) : rows * cols;
    return {aligned ? 1 : 0, std::clamp<int64_t>(CeilDiv(items, kPointwiseThreads), 1, max_blocks), kPointwiseThreads};
  }
  // A block per row (blocks loop over rows beyond the grid); a warp at least, for the shuffles.
  int64_t blocks = std::clamp<int64_t>(rows, 1, max_blocks * 4);
  if (cols <= kRegisterRow) return {0, blocks, RoundUpToWarp(std::max<int64_t>(CeilDiv(cols, 4), 1))};
  // Looped: 8 elements per thread and pass, at most 1024 threads.
  return {1, blocks, static_cast<int>(std::min<int64_t>(1024, RoundUpToWarp(CeilDiv(cols, 8))))};
}

}  // namespace lazyplus
