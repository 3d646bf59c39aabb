#include "backend/cpu/concat.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>

#include "backend/cpu/own_kernel_step.h"
#include "device/host_pool.h"
#include "ir/node_factory.h"

namespace lazyplus {
namespace {

using Tensors = std::vector<at::Tensor>;

const OpKind& Cat() {
  static const OpKind& kind = KindNamed("aten::cat");
  return kind;
}

// Outer rows per parallel task: enough bytes (64 KiB) that a task is worth a thread's wake-up.
int64_t GrainRows(int64_t row_bytes) { return std::max<int64_t>(1, (64 << 10) / std::max<int64_t>(1, row_bytes)); }

// operands: the tensors -> their concatenation along `dim`. Mixed dtypes (type promotion), strided
// operands and ATen's legacy empty (0,) operands are ATen's.
std::optional<Tensors> RunCat(const Node& node, const Tensors& in) {
  const Shape& shape = node.shape();
  const int64_t rank = static_cast<int64_t>(shape.sizes.size());
  if (rank == 0) return std::nullopt;
  const int64_t dim = c10::maybe_wrap_dim(node.attr("dim").toInt(), rank);
  const int64_t outer = c10::multiply_integers(shape.sizes.begin(), shape.sizes.begin() + dim);
  const size_t item = c10::elementSize(shape.dtype);
  std::vector<size_t> chunk_bytes;  // each operand's bytes per outer row
  for (const at::Tensor& t : in) {
    if (t.scalar_type() != shape.dtype || !t.is_contiguous() || t.dim() != rank) return std::nullopt;
    chunk_bytes.push_back(static_cast<size_t>(t.numel() / std::max<int64_t>(1, outer)) * item);
  }
  at::Tensor out = EmptyFromPool(shape.sizes, shape.dtype);
  if (out.numel() == 0) return Tensors{out};
  size_t row_bytes = 0;
  for (size_t b : chunk_bytes) row_bytes += b;
  auto* dst = static_cast<char*>(out.data_ptr());
  at::parallel_for(0, outer, GrainRows(static_cast<int64_t>(row_bytes)), [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      char* row = dst + o * row_bytes;
      for (size_t k = 0; k < in.size(); ++k) {
        std::memcpy(row, static_cast<const char*>(in[k].const_data_ptr()) + o * chunk_bytes[k], chunk_bytes[k]);
        row += chunk_bytes[k];
      }
    }
  });
  return Tensors{out};
}

}  // namespace

bool IsCat(const Node& node) { return &node.kind() == &Cat(); }

StepSpec CatStep(const Graph& graph, const Node* node) { return OwnKernelStep(graph, node, &RunCat, "CatCalls"); }

}  // namespace lazyplus
