#include "backend/cpu/vector_norm.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/own_kernel_step.h"
#include "backend/cpu/profiled_inputs.h"
#include "backend/cpu/sums.h"
#include "device/host_pool.h"
#include "ir/node_factory.h"
#include "support/metrics.h"

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

// The host scalar `ord` is 2, read without item(): a dispatcher call per gradient when clipping took
// half of the stacked step's time in a profile of the demo (57-86 us against 21-28).
bool OrdIsTwo(const at::Tensor& ord) { return ScalarValue(ord).toDouble() == 2.0; }

// operands: self, ord. Other orders, dims, dtypes, strided and empty input are ATen's.
bool Fits(const Node& norm, const at::Tensor& x, const at::Tensor& ord) {
  const c10::IValue dtype = norm.attr("dtype");
  return x.scalar_type() == at::kFloat && x.is_contiguous() && x.numel() > 0 && OrdIsTwo(ord) &&
         (dtype.isNone() || dtype.toScalarType() == at::kFloat) && AllDims(norm.attr("dim"), x.dim());
}

float Norm(const at::Tensor& x) {
  return static_cast<float>(std::sqrt(SquaredSumOnThreads(x.const_data_ptr<float>(), x.numel())));
}

std::optional<Tensors> RunVectorNorm(const Node& node, const Tensors& in) {
  if (!Fits(node, in[0], in[1])) return std::nullopt;
  at::Tensor out = EmptyFromPool(node.shape().sizes, at::kFloat);
  out.data_ptr<float>()[0] = Norm(in[0]);
  return Tensors{out};
}

const OpKind& Stack() {
  static const OpKind& kind = KindNamed("aten::stack");
  return kind;
}

// A stacked step's kernel: its inputs are each norm's operands (self, ord) in the stack's order.
struct StackedNorms {
  std::vector<size_t> norm_positions;
  std::vector<StepKernel> norm_steps;  // ATen's, for the norms this kernel does not take
  StepKernel stack_step;
  metrics::Counter* stacks = metrics::GetCounter("StackedVectorNormsCalls");
  metrics::Counter* norms = metrics::GetCounter("VectorNormCalls");

  Tensors operator()(const Tensors& in, const StepRun& run) const {
    RECORD_FUNCTION("lazyplus::StackedVectorNorms", ProfiledInputs(in));
    const size_t count = norm_positions.size();
    bool ours = true;
    for (size_t i = 0; i < count && ours; ++i) {
      ours = Fits(*run.graph.nodes[norm_positions[i]], in[2 * i], in[2 * i + 1]);
    }
    if (ours) {
      at::Tensor out = EmptyFromPool({static_cast<int64_t>(count)}, at::kFloat);
      for (size_t i = 0; i < count; ++i) out.data_ptr<float>()[i] = Norm(in[2 * i]);
      stacks->Add(1);
      norms->Add(static_cast<int64_t>(count));
      return Tensors{out};
    }
    const std::vector<bool> none;  // the norms' own operands are not this step's to overwrite
    const StepRun apart{run.graph, run.memory, none};
    Tensors stacked;
    for (size_t i = 0; i < count; ++i) stacked.push_back(norm_steps[i]({in[2 * i], in[2 * i + 1]}, apart)[0]);
    return stack_step(stacked, apart);
  }
};

}  // namespace

bool IsVectorNorm(const Node& node) { return &node.kind() == &VectorNorm(); }

StepSpec VectorNormStep(const Graph& graph, const Node* node) {
  return OwnKernelStep(graph, node, &RunVectorNorm, "VectorNormCalls");
}

bool IsStackOfVectorNorms(const Node& node) {
  if (&node.kind() != &Stack() || node.operands().empty() || node.shape().sizes.size() != 1) return false;
  return std::all_of(node.operands().begin(), node.operands().end(), [](const Value& v) {
    return IsVectorNorm(*v.node) && v.shape().sizes.empty() && v.node->operands().size() == 2;
  });
}

StepSpec StackedVectorNormsStep(const Graph& graph, const Node* stack) {
  StepSpec step = NodeStep(graph, stack);  // the stack's result and ATen's stack
  StackedNorms kernel;
  kernel.stack_step = std::move(step.kernel);
  step.inputs.clear();
  for (const Value& v : stack->operands()) {
    StepSpec norm = NodeStep(graph, v.node.get());
    step.inputs.insert(step.inputs.end(), norm.inputs.begin(), norm.inputs.end());
    kernel.norm_positions.push_back(graph.position.at(v.node.get()));
    kernel.norm_steps.push_back(std::move(norm.kernel));
  }
  step.kernel = std::move(kernel);
  return step;
}

}  // namespace lazyplus
