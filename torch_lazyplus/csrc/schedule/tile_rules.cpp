#include "schedule/tile_rules.h"

#include <ATen/native/TypeProperties.h>
#include <c10/core/ScalarType.h>

#include "ir/core_nodes.h"
#include "ir/kind_table.h"

namespace lazyplus {
namespace {

using B = TileBuilder;
using O = TileOp;

// Register of operand i.
int32_t In(B& b, const Node& n, size_t i) { return b.Operand(n, i); }
void Def(B& b, const Node& n, int32_t reg) { b.Define(n, 0, reg); }

bool IsScalarParam(const Value& v) { return &v.node->kind() == &ScalarParam::kind; }

c10::ScalarType Promote(c10::ScalarType a, c10::ScalarType b) {
  return a == c10::ScalarType::Undefined ? b : c10::promoteTypes(a, b);
}

// The dtype TensorIterator converts a node's operands to: its result's, or for a comparison (a bool
// result) its tensor operands' result type, in which a 0-dim tensor ranks below the others
// (float32 0-dim != float16 tensor compares in float16).
at::ScalarType CommonDtype(const Node& n) {
  if (n.shape().dtype != at::kBool) return n.shape().dtype;
  at::native::ResultTypeState state;
  state.dimResult = at::kBool;
  for (const auto& v : n.operands()) {
    if (IsScalarParam(v)) continue;
    auto& result = v.shape().sizes.empty() ? state.zeroResult : state.dimResult;
    result = Promote(result, v.shape().dtype);
  }
  return at::native::result_type(state);
}

// Operand i as a bf16/fp16 kernel receives it: converted to the common dtype first (an int64 tensor,
// a float32 tensor, a Python float rounded to bf16), where registers hold each operand in its own.
int32_t InCommon(B& b, const Node& n, size_t i) {
  int32_t reg = In(b, n, i);
  at::ScalarType common = CommonDtype(n), own = n.operands().at(i).shape().dtype;
  if (own == common || own == at::kBool) return reg;
  if (common == at::kBFloat16) return b.Op(O::kRoundBf16, reg);
  if (common == at::kHalf) return b.Op(O::kRoundHalf, reg);
  return reg;
}

// Eager's bf16/fp16 mul, div and pow read a one-element second operand (a Python number, a 0-dim
// tensor) at its own precision (`original_scalar_value`), not converted to the common dtype.
int32_t InOrOneElement(B& b, const Node& n, size_t i) {
  int64_t numel = 1;
  for (int64_t s : n.operands().at(i).shape().sizes) numel *= s;
  return numel == 1 ? In(b, n, i) : InCommon(b, n, i);
}

template <O op>
void Unary(B& b, const Node& n) { Def(b, n, b.Op(op, In(b, n, 0))); }
template <O op>
void Binary(B& b, const Node& n) { Def(b, n, b.Op(op, InCommon(b, n, 0), InCommon(b, n, 1))); }
template <O op>
void BinaryScalarAsIs(B& b, const Node& n) { Def(b, n, b.Op(op, InCommon(b, n, 0), InOrOneElement(b, n, 1))); }

// As eager's vectorized add: self + alpha * other rounded once (vec::fmadd), alpha converted to the
// dtype as the operands are; sub and rsub are add with -alpha (alpha is operand 2).
void Add(B& b, const Node& n) { Def(b, n, b.Op(O::kFma, InCommon(b, n, 1), InCommon(b, n, 2), InCommon(b, n, 0))); }
// -alpha as eager negates it: an integer alpha in integers, so -0 is +0.
int32_t NegatedAlpha(B& b, const Node& n) {
  int32_t negated = b.Op(O::kNeg, InCommon(b, n, 2));
  return c10::isIntegralType(n.operands()[2].shape().dtype, true) ? b.Op(O::kAdd, negated, b.Const(0)) : negated;
}
void Sub(B& b, const Node& n) { Def(b, n, b.Op(O::kFma, InCommon(b, n, 1), NegatedAlpha(b, n), InCommon(b, n, 0))); }
void Rsub(B& b, const Node& n) { Def(b, n, b.Op(O::kFma, InCommon(b, n, 0), NegatedAlpha(b, n), InCommon(b, n, 1))); }

void Identity(B& b, const Node& n) { Def(b, n, In(b, n, 0)); }
// self + value * t1 * t2 (the last multiply-add rounded once) and self + value * t1 / t2, in eager's
// order (value is operand 3).
void Addcmul(B& b, const Node& n) {
  Def(b, n, b.Op(O::kFma, b.Op(O::kMul, In(b, n, 3), In(b, n, 1)), In(b, n, 2), In(b, n, 0)));
}
void Addcdiv(B& b, const Node& n) {
  Def(b, n, b.Op(O::kAdd, In(b, n, 0), b.Op(O::kDiv, b.Op(O::kMul, In(b, n, 3), In(b, n, 1)), In(b, n, 2))));
}
// As eager's vectorized lerp: from self for |weight| < 0.5, from end otherwise (exact at both ends),
// coeff * (end - self) + base rounded once.
void Lerp(B& b, const Node& n) {
  int32_t self = In(b, n, 0), end = In(b, n, 1), weight = In(b, n, 2);
  int32_t small = b.Op(O::kLt, b.Op(O::kAbs, weight), b.Const(0.5));
  int32_t coeff = b.Op(O::kWhere, small, weight, b.Op(O::kSub, weight, b.Const(1)));
  int32_t base = b.Op(O::kWhere, small, self, end);
  Def(b, n, b.Op(O::kFma, coeff, b.Op(O::kSub, end, self), base));
}

void Convert(B& b, const Node& n) {
  int32_t x = In(b, n, 0);
  Def(b, n, n.shape().dtype == at::kBool ? b.Op(O::kNe, x, b.Const(0)) : x);
}

// As eager's vec::clamp: a NaN input stays NaN, and an input equal to a bound (+0 against -0) is kept.
void Clamp(B& b, const Node& n) {
  int32_t x = In(b, n, 0);
  size_t i = 1;
  if (n.attr("min_defined").toBool()) x = b.Op(O::kClampMin, x, In(b, n, i++));
  if (n.attr("max_defined").toBool()) x = b.Op(O::kClampMax, x, In(b, n, i++));
  Def(b, n, x);
}

// Eager's relu is clamp_min(x, 0): relu(-0.) is -0.
void ClampMin(B& b, const Node& n) { Def(b, n, b.Op(O::kClampMin, In(b, n, 0), b.Const(0))); }

// Bool add and sub compute in bool (alpha becomes true or false), not as integers.
bool NumericResult(const Node& n) { return n.shape().dtype != at::kBool; }

void Where(B& b, const Node& n) { Def(b, n, b.Op(O::kWhere, In(b, n, 0), In(b, n, 1), In(b, n, 2))); }

void ThresholdBackward(B& b, const Node& n) {
  int32_t below = b.Op(O::kLe, In(b, n, 1), In(b, n, 2));
  Def(b, n, b.Op(O::kWhere, below, b.Const(0), In(b, n, 0)));
}

// `dy * (1 - y) * y`; eager's float16 kernel rounds each step to float16 (bfloat16's computes in float).
void SigmoidBackward(B& b, const Node& n) {
  int32_t y = In(b, n, 1);
  auto step = [&](int32_t reg) { return n.shape().dtype == at::kHalf ? b.Op(O::kRoundHalf, reg) : reg; };
  Def(b, n, b.Op(O::kMul, step(b.Op(O::kMul, In(b, n, 0), step(b.Op(O::kSub, b.Const(1), y)))), y));
}

// As eager's tanh_backward, `dy * (1 - y * y)`, whose `1 - y * y` g++ makes a multiply-add.
void TanhBackward(B& b, const Node& n) {
  int32_t y = In(b, n, 1);
  Def(b, n, b.Op(O::kMul, In(b, n, 0), b.Op(O::kFma, b.Op(O::kNeg, y), y, b.Const(1))));
}

void LeakyRelu(B& b, const Node& n) {
  int32_t x = In(b, n, 0);
  Def(b, n, b.Op(O::kWhere, b.Op(O::kGt, x, b.Const(0)), x, b.Op(O::kMul, x, In(b, n, 1))));
}

void Gelu(B& b, const Node& n) {
  bool tanh = n.attr("approximate").toStringRef() == "tanh";
  Def(b, n, b.Op(tanh ? O::kGeluTanh : O::kGelu, In(b, n, 0)));
}

bool GeluAccepts(const Node& n) {
  const std::string a = n.attr("approximate").toStringRef();  // a copy: attr() returns a temporary
  return a == "none" || a == "tanh";
}

void GeluBackward(B& b, const Node& n) {
  bool tanh = n.attr("approximate").toStringRef() == "tanh";
  Def(b, n, b.Op(tanh ? O::kGeluTanhBackward : O::kGeluBackward, In(b, n, 0), In(b, n, 1)));
}

// Not exact in float64: its CUDA kernel (erf and exp in double) spills registers on sm_90.
bool GeluBackwardAccepts(const Node& n) {
  return GeluAccepts(n) && (n.shape().dtype != at::kDouble || n.attr("approximate").toStringRef() == "tanh");
}

template <O op>
void RowReduce(B& b, const Node& n) { Def(b, n, b.Op(op, In(b, n, 0))); }
// sum and mean: eager's sums start from +0, so the sum of -0s is +0 (adding +0 changes nothing else).
int32_t SumFromZero(B& b, int32_t x) { return b.Op(O::kAdd, b.Op(O::kRowSum, x), b.Const(0)); }
void RowSum(B& b, const Node& n) { Def(b, n, SumFromZero(b, In(b, n, 0))); }
void RowMean(B& b, const Node& n) { Def(b, n, b.Op(O::kDiv, SumFromZero(b, In(b, n, 0)), b.RowLength())); }

// As eager's vectorized kernels: exp(x - max) scaled by 1 / sum; x - max - log(sum).
void Softmax(B& b, const Node& n) {
  int32_t x = In(b, n, 0);
  int32_t e = b.Op(O::kExp, b.Op(O::kSub, x, b.Op(O::kRowMax, x)));
  Def(b, n, b.Op(O::kMul, e, b.Op(O::kReciprocal, b.Op(O::kRowSum, e))));
}

void LogSoftmax(B& b, const Node& n) {
  int32_t x = In(b, n, 0);
  int32_t shifted = b.Op(O::kSub, x, b.Op(O::kRowMax, x));
  Def(b, n, b.Op(O::kSub, shifted, b.Op(O::kLog, b.Op(O::kRowSum, b.Op(O::kExp, shifted)))));
}

// Two passes over the row: the mean, then the squared deviations over max(cols - correction, 0)
// (correction is operand 1 when given, else 1).
struct RowMoments {
  int32_t mean, var;
};
RowMoments Moments(B& b, const Node& n) {
  int32_t x = In(b, n, 0);
  int32_t mean = b.Op(O::kDiv, b.Op(O::kRowSum, x), b.RowLength());
  int32_t centered = b.Op(O::kSub, x, mean);
  int32_t correction = n.attr("correction_defined").toBool() ? In(b, n, 1) : b.Const(1);
  int32_t divisor = b.Op(O::kMax, b.Op(O::kSub, b.RowLength(), correction), b.Const(0));
  return {mean, b.Op(O::kDiv, b.Op(O::kRowSum, b.Op(O::kMul, centered, centered)), divisor)};
}

template <bool kStd, bool kWithMean>
void Variance(B& b, const Node& n) {
  RowMoments m = Moments(b, n);
  b.Define(n, 0, kStd ? b.Op(O::kSqrt, m.var) : m.var);
  if (kWithMean) b.Define(n, 1, m.mean);
}

void LayerNorm(B& b, const Node& n) {
  int32_t x = In(b, n, 0);
  int32_t mean = b.Op(O::kDiv, b.Op(O::kRowSum, x), b.RowLength());
  int32_t centered = b.Op(O::kSub, x, mean);
  int32_t var = b.Op(O::kDiv, b.Op(O::kRowSum, b.Op(O::kMul, centered, centered)), b.RowLength());
  int32_t rstd = b.Op(O::kRsqrt, b.Op(O::kAdd, var, b.Const(n.attr("eps").toDouble())));
  int32_t y = b.Op(O::kMul, centered, rstd);
  size_t i = 1;
  if (n.attr("weight_defined").toBool()) y = b.Op(O::kMul, y, In(b, n, i++));
  if (n.attr("bias_defined").toBool()) y = b.Op(O::kAdd, y, In(b, n, i++));
  b.Define(n, 0, y);
  b.Define(n, 1, mean);
  b.Define(n, 2, rstd);
}

int64_t Rank(const Node& n) { return static_cast<int64_t>(n.operands().at(0).shape().sizes.size()); }
bool IsLastDim(int64_t dim, const Node& n) { return Rank(n) > 0 && (dim == -1 || dim == Rank(n) - 1); }

// sum/mean/amax/amin over exactly the last dim, in the input's own dtype (no dtype argument).
bool LastDimReduction(const Node& n) {
  c10::IValue dim = n.attr("dim");
  if (dim.isNone()) return false;
  static const KindTable<bool> with_dtype{{"aten::sum.dim_IntList", true}, {"aten::mean.dim", true}};
  bool has_dtype = with_dtype.Contains(n);
  if (has_dtype && !n.attr("dtype").isNone()) return false;
  auto dims = dim.toIntVector();
  return dims.size() == 1 && IsLastDim(dims[0], n);
}

bool SoftmaxAccepts(const Node& n) {
  return IsLastDim(n.attr("dim").toInt(), n) && !n.attr("half_to_float").toBool();
}

bool LayerNormAccepts(const Node& n) {
  auto normalized = n.attr("normalized_shape").toIntVector();
  return Rank(n) > 0 && normalized.size() == 1 && normalized[0] == n.operands()[0].shape().sizes.back();
}

const KindTable<TileRule>& Rules() {
  static const auto* rules = new KindTable<TileRule>{
      {"aten::add.Tensor", {false, true, Add, NumericResult}},
      {"aten::add.Scalar", {false, true, Add, NumericResult}},
      {"aten::sub.Tensor", {false, true, Sub, NumericResult}},
      {"aten::sub.Scalar", {false, true, Sub, NumericResult}},
      {"aten::rsub.Tensor", {false, true, Rsub, NumericResult}},
      {"aten::rsub.Scalar", {false, true, Rsub, NumericResult}},
      {"aten::mul.Tensor", {false, true, BinaryScalarAsIs<O::kMul>}},
      {"aten::mul.Scalar", {false, true, BinaryScalarAsIs<O::kMul>}},
      {"aten::div.Tensor", {false, false, BinaryScalarAsIs<O::kDiv>}},
      {"aten::div.Scalar", {false, false, BinaryScalarAsIs<O::kDiv>}},
      {"aten::maximum", {false, true, Binary<O::kMax>}},
      {"aten::minimum", {false, true, Binary<O::kMin>}},
      {"aten::pow.Tensor_Scalar", {false, false, BinaryScalarAsIs<O::kPowScalar>}},
      {"aten::pow.Tensor_Tensor", {false, false, Binary<O::kPow>}},
      // scalar ** tensor: eager wraps the scalar and runs pow.Tensor_Tensor's kernel (AdamW's
      // capturable bias corrections, 2 per parameter: 0.3 ms of the demo's 4.4 ms replayed step).
      {"aten::pow.Scalar", {false, false, Binary<O::kPow>}},
      {"aten::eq.Tensor", {false, true, Binary<O::kEq>}},
      {"aten::eq.Scalar", {false, true, Binary<O::kEq>}},
      {"aten::ne.Tensor", {false, true, Binary<O::kNe>}},
      {"aten::ne.Scalar", {false, true, Binary<O::kNe>}},
      {"aten::lt.Tensor", {false, true, Binary<O::kLt>}},
      {"aten::lt.Scalar", {false, true, Binary<O::kLt>}},
      {"aten::le.Tensor", {false, true, Binary<O::kLe>}},
      {"aten::le.Scalar", {false, true, Binary<O::kLe>}},
      {"aten::gt.Tensor", {false, true, Binary<O::kGt>}},
      {"aten::gt.Scalar", {false, true, Binary<O::kGt>}},
      {"aten::ge.Tensor", {false, true, Binary<O::kGe>}},
      {"aten::ge.Scalar", {false, true, Binary<O::kGe>}},
      {"aten::logical_and", {false, true, Binary<O::kAnd>}},
      {"aten::logical_or", {false, true, Binary<O::kOr>}},
      {"aten::logical_xor", {false, true, Binary<O::kXor>}},
      {"aten::logical_not", {false, true, Unary<O::kNot>}},
      {"aten::neg", {false, true, Unary<O::kNeg>}},
      {"aten::abs", {false, true, Unary<O::kAbs>}},
      {"aten::relu", {false, true, ClampMin}},
      {"aten::sigmoid", {false, false, Unary<O::kSigmoid>}},
      {"aten::tanh", {false, false, Unary<O::kTanh>}},
      {"aten::exp", {false, false, Unary<O::kExp>}},
      {"aten::log", {false, false, Unary<O::kLog>}},
      {"aten::sqrt", {false, false, Unary<O::kSqrt>}},
      {"aten::rsqrt", {false, false, Unary<O::kRsqrt>}},
      {"aten::reciprocal", {false, false, Unary<O::kReciprocal>}},
      {"aten::erf", {false, false, Unary<O::kErf>}},
      {"aten::sin", {false, false, Unary<O::kSin>}},
      {"aten::cos", {false, false, Unary<O::kCos>}},
      {"aten::log1p", {false, false, Unary<O::kLog1p>}},
      {"aten::expm1", {false, false, Unary<O::kExpm1>}},
      {"aten::floor", {false, false, Unary<O::kFloor>}},
      {"aten::ceil", {false, false, Unary<O::kCeil>}},
      {"aten::trunc", {false, false, Unary<O::kTrunc>}},
      {"aten::silu", {false, false, Unary<O::kSilu>}},
      {"aten::gelu", {false, false, Gelu, GeluAccepts}},
      {"aten::clamp", {false, true, Clamp}},
      {"aten::clamp_min", {false, true, Binary<O::kClampMin>}},
      {"aten::clamp_max", {false, true, Binary<O::kClampMax>}},
      {"aten::where.self", {false, true, Where}},
      {"aten::addcmul", {false, true, Addcmul, NumericResult}},
      {"aten::addcdiv", {false, false, Addcdiv}},
      {"aten::lerp.Scalar", {false, false, Lerp}},
      {"aten::lerp.Tensor", {false, false, Lerp}},
      {"aten::threshold_backward", {false, true, ThresholdBackward}},
      {"aten::sigmoid_backward", {false, false, SigmoidBackward}},
      {"aten::tanh_backward", {false, false, TanhBackward}},
      {"aten::gelu_backward", {false, false, GeluBackward, GeluBackwardAccepts}},
      {"aten::leaky_relu", {false, false, LeakyRelu}},
      {"convert", {false, true, Convert}},
      {"expand", {false, true, Identity}},
      {"aten::sum.dim_IntList", {true, true, RowSum, LastDimReduction}},
      {"aten::mean.dim", {true, false, RowMean, LastDimReduction}},
      {"aten::amax", {true, true, RowReduce<O::kRowMax>, LastDimReduction}},
      {"aten::amin", {true, true, RowReduce<O::kRowMin>, LastDimReduction}},
      {"aten::_softmax", {true, false, Softmax, SoftmaxAccepts}},
      {"aten::_log_softmax", {true, false, LogSoftmax, SoftmaxAccepts}},
      {"aten::native_layer_norm", {true, false, LayerNorm, LayerNormAccepts}},
      {"aten::var.correction", {true, false, Variance<false, false>, LastDimReduction}},
      {"aten::std.correction", {true, false, Variance<true, false>, LastDimReduction}},
      {"aten::var_mean.correction", {true, false, Variance<false, true>, LastDimReduction}},
      {"aten::std_mean.correction", {true, false, Variance<true, true>, LastDimReduction}},
  };
  return *rules;
}

std::optional<ComputeType> ClassOf(at::ScalarType t) {
  switch (t) {
    case at::kFloat: case at::kBFloat16: case at::kHalf: return ComputeType::kFloat;
    case at::kDouble: return ComputeType::kDouble;
    case at::kLong: case at::kInt: case at::kShort: case at::kChar: case at::kByte: case at::kBool:
      return ComputeType::kInt64;
    default: return std::nullopt;
  }
}

// Output dtypes a compute type can produce exactly (narrower integers would need wrap-around).
bool Produces(ComputeType c, at::ScalarType t) {
  if (t == at::kBool) return true;
  switch (c) {
    case ComputeType::kFloat: return t == at::kFloat || t == at::kBFloat16 || t == at::kHalf;
    case ComputeType::kDouble: return t == at::kDouble;
    case ComputeType::kInt64: return t == at::kLong;
  }
  return false;
}

// Eager compares a tensor with a Python number in their result type: an int tensor with a float in
// float (3 > -0.5), an int32 tensor with an int wrapped to int32, a bf16 tensor with a float rounded to
// bf16. Registers hold the number as it is, which is the same only for int64, float32 and float64
// tensors and a number of no higher category.
bool ComparesScalarsExactly(const Node& node, at::ScalarType tensors) {
  for (const auto& v : node.operands()) {
    if (!IsScalarParam(v)) continue;
    bool exact = tensors == at::kDouble || tensors == at::kFloat ||
                 (tensors == at::kLong && !c10::isFloatingType(v.shape().dtype));
    if (!exact) return false;
  }
  return true;
}

}  // namespace

const TileRule* FindTileRule(const Node& node) {
  const TileRule* rule = Rules().Find(node);
  return rule && (!rule->accepts || rule->accepts(node)) ? rule : nullptr;
}

// A node computes in the class of its output dtype; a bool result (a comparison) in the class of
// its tensor operands.
std::optional<ComputeType> ComputeTypeOf(const Node& node) {
  for (const auto& v : node.operands()) {
    if (!ClassOf(v.shape().dtype)) return std::nullopt;
  }
  at::ScalarType out = CommonDtype(node);
  if (node.shape().dtype == at::kBool && !ComparesScalarsExactly(node, out)) return std::nullopt;
  auto c = ClassOf(out);
  if (!c) return std::nullopt;
  for (size_t k = 0; k < node.num_outputs(); ++k) {
    if (!Produces(*c, node.shape(k).dtype)) return std::nullopt;
  }
  const TileRule* rule = FindTileRule(node);
  if (!rule || (*c == ComputeType::kInt64 && !rule->integer)) return std::nullopt;
  return c;
}

}  // namespace lazyplus
