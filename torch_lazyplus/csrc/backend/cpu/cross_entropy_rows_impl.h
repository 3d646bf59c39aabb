// The rows of cross-entropy's backward, built once per instruction set (cross_entropy_rows_{avx512,
// avx2,default}.cpp) as eager's log-softmax backward is: the same at::vec operations, so the same bits.
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cstdint>

namespace lazyplus {
namespace CPU_CAPABILITY {

// Row i of `out`: G - exp(logp) * sum(G), where G is zero but for `coef[i]` at `target[i]` (a row whose
// target is `ignore_index` has none). Eager's log-softmax backward computes x - exp(y) * sum with the
// sum a vec::reduce_all of the row: here coef + 0 (adding the row's zeros turns -0 into +0).
void CrossEntropyRowsImpl(float* out, const float* logp, const float* coef, const int64_t* target,
                          int64_t ignore_index, int64_t rows, int64_t cols) {
  using V = at::vec::Vectorized<float>;
  constexpr int64_t kGrainSize = 32768;  // at::internal::GRAIN_SIZE (TensorIterator.h): rows split as eager's
  int64_t grain = std::max<int64_t>(1, kGrainSize / (16 * cols));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const bool has_target = target[i] != ignore_index;
      const float sum = has_target ? coef[i] + 0.0f : 0.0f;
      const float* y = logp + i * cols;
      float* o = out + i * cols;
      const V zero(0.0f), s(sum);
      int64_t j = 0;
      for (; j + V::size() <= cols; j += V::size()) (zero - V::loadu(y + j).exp() * s).store(o + j);
      if (j < cols) (zero - V::loadu(y + j, cols - j).exp() * s).store(o + j, cols - j);
      if (has_target) {
        const int64_t t = target[i];
        (V(coef[i]) - V::loadu(y + t, 1).exp() * s).store(o + t, 1);
      }
    }
  });
}

}  // namespace CPU_CAPABILITY
}  // namespace lazyplus
