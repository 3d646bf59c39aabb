#pragma once
// How a region's kernel is launched: which of its variants (cuda_source.h) and what grid. Pure
// arithmetic, so it is tested without a GPU.
#include <cstdint>

namespace lazyplus {

struct LaunchConfig {
  int variant;  // index into CudaSource::kernels
  int64_t blocks;
  int threads;
};

// `aligned`: every full-size buffer of a pointwise region is aligned to four elements (its vector
// loads and stores need it). `multiprocessors`: the device's SM count.
LaunchConfig ConfigureLaunch(bool whole_rows, int64_t rows, int64_t cols, bool aligned, int multiprocessors);

}  // namespace lazyplus
