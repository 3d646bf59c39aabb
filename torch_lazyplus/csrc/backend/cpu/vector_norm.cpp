#include "backend/cpu/vector_norm.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/own_kernel_step.h"
#include "backend/cpu/sums.h"
#include "device/host_pool.h"
#include "ir/node_factory.h"

namespace lazyplus {
namespace {

using Tensors = std::vector<at::Tensor>;

const OpKind& VectorNorm() {
  static const OpKind& kind = KindNamed("aten::linalg_vector_norm");
  return kind;
}

// Every dim of a rank-`rank` tensor: none named, or each of them (a 0-dim tensor's dim is 0 or -1).
bool AllDims(const c10::IValue& dims, int64_t rank) {
  if (dims.isNone()) return true;
  std::vector<bool> named(std::max<int64_t>(rank, 1), false);
  for (int64_t d : dims.toIntVector()) named[c10::maybe_wrap_dim(d, rank)] = true;
  return std::all_of(named.begin(), named.end(), [](bool b) { return b; });
}

// Squares of this many values or more are summed on all threads (a part each, the parts added in
// order); fewer take one thread less time than two take to meet (the demo's 12k-16k: 2.7 us).
constexpr int64_t kParallelValues = 1 << 18;

double SquaredSumOnThreads(const float* x, int64_t n) {
  if (n < kParallelValues) return SquaredSum(x, n);
  const int64_t parts = at::get_num_threads(), per_part = (n + parts - 1) / parts;
  std::vector<double> sums(parts, 0.0);
  at::parallel_for(0, parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t from = p * per_part;
      if (from < n) sums[p] = SquaredSum(x + from, std::min(n, from + per_part) - from);
    }
  });
  double total = 0;
  for (double s : sums) total += s;
  return total;
}

// operands: self, ord -> the norm. Other orders, dims, dtypes, strided and empty input are ATen's.
std::optional<Tensors> RunVectorNorm(const Node& node, const Tensors& in) {
  const at::Tensor& x = in[0];
  const c10::IValue dtype = node.attr("dtype");
  if (x.scalar_type() != at::kFloat || !x.is_contiguous() || x.numel() == 0 || in[1].item<double>() != 2.0 ||
      (!dtype.isNone() && dtype.toScalarType() != at::kFloat) || !AllDims(node.attr("dim"), x.dim())) {
    return std::nullopt;
  }
  at::Tensor out = EmptyFromPool(node.shape().sizes, at::kFloat);
  out.data_ptr<float>()[0] = static_cast<float>(std::sqrt(SquaredSumOnThreads(x.const_data_ptr<float>(), x.numel())));
  return Tensors{out};
}

}  // namespace

bool IsVectorNorm(const Node& node) { return &node.kind() == &VectorNorm(); }

StepSpec VectorNormStep(const Graph& graph, const Node* node) {
  return OwnKernelStep(graph, node, &RunVectorNorm, "VectorNormCalls");
}

}  // namespace lazyplus
