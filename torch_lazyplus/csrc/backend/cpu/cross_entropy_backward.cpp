#include "backend/cpu/cross_entropy_backward.h"

#include "backend/cpu/tile_interpreter.h"
#include "device/host_pool.h"
#include "ir/node_factory.h"

namespace lazyplus {

#define DECLARE_CROSS_ENTROPY_ROWS(isa)                                                                   \
  namespace isa {                                                                                         \
  void CrossEntropyRowsImpl(float*, const float*, const float*, const int64_t*, int64_t, int64_t, int64_t); \
  }
DECLARE_CROSS_ENTROPY_ROWS(AVX512)
DECLARE_CROSS_ENTROPY_ROWS(AVX2)
DECLARE_CROSS_ENTROPY_ROWS(DEFAULT)
#undef DECLARE_CROSS_ENTROPY_ROWS

namespace {

using Tensors = std::vector<at::Tensor>;

const OpKind& NllLossBackward() {
  static const OpKind& kind = KindNamed("aten::nll_loss_backward");
  return kind;
}

const OpKind& LogSoftmaxBackward() {
  static const OpKind& kind = KindNamed("aten::_log_softmax_backward_data");
  return kind;
}

// The rows in the instruction set the tile interpreter runs (eager's, so the same exp).
void CrossEntropyRows(float* out, const float* logp, const float* coef, const int64_t* target, int64_t ignore_index,
                      int64_t rows, int64_t cols) {
  auto* rows_impl = ForTileIsa(&AVX512::CrossEntropyRowsImpl, &AVX2::CrossEntropyRowsImpl, &DEFAULT::CrossEntropyRowsImpl);
  rows_impl(out, logp, coef, target, ignore_index, rows, cols);
}

// nll_loss_backward's attributes and operands: grad (the loss's gradient), self, target, [weight],
// total_weight.
struct NllArgs {
  int64_t reduction, ignore_index;
  const at::Tensor &grad, &self, &target, *weight, &total_weight;
};

NllArgs ArgsOf(const Node& nll, const Tensors& in) {
  bool weighted = nll.attr("weight_defined").toBool();
  return {nll.attr("reduction").toInt(), nll.attr("ignore_index").toInt(), in[0], in[1], in[2],
          weighted ? &in[3] : nullptr, in[weighted ? 4 : 3]};
}

// Where the one pass applies: float32 (rows, classes) log-probabilities reduced over classes, int64
// targets, and every tensor as eager's kernels read it. Rows shorter than two vectors stay with eager's
// kernels, whose sum over so few lanes keeps a -0.
bool OnePass(const NllArgs& a, const at::Tensor& logp, int64_t dim) {
  auto is_float = [](const at::Tensor& t) { return t.scalar_type() == at::kFloat && t.is_contiguous(); };
  return is_float(logp) && logp.dim() == 2 && (dim == 1 || dim == -1) && logp.size(1) >= 32 &&
         a.self.sizes() == logp.sizes() &&
         a.target.scalar_type() == at::kLong && a.target.dim() == 1 && a.target.is_contiguous() &&
         a.target.size(0) == logp.size(0) && is_float(a.grad) && is_float(a.total_weight) &&
         (a.weight == nullptr || (is_float(*a.weight) && a.weight->numel() == logp.size(1))) &&
         (a.reduction == 0 ? a.grad.numel() == logp.size(0) : a.grad.numel() == 1 && (a.reduction == 1 || a.reduction == 2));
}

// The one-hot gradient's value in each row, as eager's nll_loss_backward computes it (LossNLL.cpp).
std::vector<float> Coefficients(const NllArgs& a, int64_t classes) {
  const int64_t rows = a.target.size(0);
  const int64_t* target = a.target.const_data_ptr<int64_t>();
  const float* grad = a.grad.const_data_ptr<float>();
  const float* weight = a.weight ? a.weight->const_data_ptr<float>() : nullptr;
  const float reduced = a.reduction == 1 ? *grad / *a.total_weight.const_data_ptr<float>() : *grad;
  std::vector<float> coef(rows, 0.0f);
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t t = target[i];
    if (t == a.ignore_index) continue;
    TORCH_CHECK_INDEX(t >= 0 && t < classes, "Target ", t, " is out of bounds.");
    if (a.reduction == 0) {
      const float w = weight ? weight[t] : 1.0f;
      coef[i] = -w * grad[i];
    } else {
      coef[i] = weight ? weight[t] * -reduced : -reduced;
    }
  }
  return coef;
}

}  // namespace

bool IsCrossEntropyBackward(const Node& node) {
  if (&node.kind() != &LogSoftmaxBackward()) return false;
  const Value& grad = node.operands()[0];
  return &grad.node->kind() == &NllLossBackward() && grad.index == 0;
}

StepSpec CrossEntropyBackwardStep(const Graph& graph, const Node* node) {
  const Node* nll = node->operands()[0].node.get();
  StepSpec step{nullptr, {}, {{node, 0}}};
  for (const auto& v : nll->operands()) step.inputs.push_back(Ref(v));
  step.inputs.push_back(Ref(node->operands()[1]));
  size_t position = graph.position.at(node);
  step.kernel = [position](const Tensors& in, const StepRun& run) -> Tensors {
    const Node* lsb = run.graph.nodes[position];
    const Node* nll = lsb->operands()[0].node.get();
    const Tensors nll_in(in.begin(), in.end() - 1);
    const at::Tensor& logp = in.back();
    NllArgs a = ArgsOf(*nll, nll_in);
    if (!OnePass(a, logp, lsb->attr("dim").toInt())) {  // eager's two kernels
      return lsb->host_kernel()({nll->host_kernel()(nll_in).at(0), logp});
    }
    const int64_t rows = logp.size(0), cols = logp.size(1);
    std::vector<float> coef = Coefficients(a, cols);
    at::Tensor out = EmptyFromPool(logp.sizes(), at::kFloat);
    CrossEntropyRows(out.data_ptr<float>(), logp.const_data_ptr<float>(), coef.data(),
                     a.target.const_data_ptr<int64_t>(), a.ignore_index, rows, cols);
    return {out};
  };
  return step;
}

}  // namespace lazyplus
