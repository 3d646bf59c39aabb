#include "backend/cpu/column_sums.h"

#include <ATen/Parallel.h>

#include <algorithm>

#include "backend/cpu/own_kernel_step.h"
#include "backend/cpu/sums.h"
#include "backend/cpu/thread_scratch.h"
#include "device/host_pool.h"
#include "ir/node_factory.h"

namespace lazyplus {
namespace {

using Tensors = std::vector<at::Tensor>;

const OpKind& SumDims() {
  static const OpKind& kind = KindNamed("aten::sum.dim_IntList");
  return kind;
}

// How many leading dims `dims` names, all of them and no other; 0 where it names anything else.
int64_t LeadingDims(const c10::IValue& dims, int64_t rank) {
  if (dims.isNone()) return 0;  // all dims: a full reduction, ATen's
  std::vector<int64_t> d = dims.toIntVector();
  for (auto& v : d) v = v < 0 ? v + rank : v;
  std::sort(d.begin(), d.end());
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i] != static_cast<int64_t>(i)) return 0;
  }
  return static_cast<int64_t>(d.size()) < rank ? static_cast<int64_t>(d.size()) : 0;
}

// operand: input -> its sums over the leading dims. Other dims, dtypes and strided input are ATen's.
std::optional<Tensors> RunColumnSums(const Node& node, const Tensors& in) {
  const at::Tensor& x = in[0];
  const c10::IValue dtype = node.attr("dtype");
  if (x.scalar_type() != at::kFloat || !x.is_contiguous() || (!dtype.isNone() && dtype.toScalarType() != at::kFloat)) {
    return std::nullopt;
  }
  const int64_t leading = LeadingDims(node.attr("dim"), x.dim());
  if (leading == 0) return std::nullopt;
  const int64_t cols = c10::multiply_integers(x.sizes().slice(leading)), rows = cols ? x.numel() / cols : 0;
  if (rows == 0 || cols == 0) return std::nullopt;
  at::Tensor out = EmptyFromPool(node.shape().sizes, at::kFloat);
  const int64_t parts = std::min<int64_t>(at::get_num_threads(), (rows + 15) / 16), stride = (cols + 7) / 8 * 8;
  ColumnSums(x.const_data_ptr<float>(), rows, cols, out.data_ptr<float>(), ZeroedThreadScratch<double>(parts * stride),
             parts, stride);
  return Tensors{out};
}

}  // namespace

bool IsSum(const Node& node) { return &node.kind() == &SumDims(); }

StepSpec ColumnSumsStep(const Graph& graph, const Node* node) {
  return OwnKernelStep(graph, node, &RunColumnSums, "ColumnSumsCalls");
}

}  // namespace lazyplus
