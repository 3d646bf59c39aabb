#include "tensor/tracing.h"

#include <ATen/MemoryOverlap.h>

#include <ATen/ops/empty_strided.h>
#include <c10/core/DynamicCast.h>

#include <cmath>

#include "device/device.h"
#include "ir/core_nodes.h"
#include "support/aten_forward.h"
#include "tensor/lazy_tensor.h"

namespace lazyplus {
namespace {

at::Tensor MetaOf(const at::Tensor& t) {
  return at::empty_strided(t.sizes(), t.strides(), t.options().device(c10::kMeta));
}

// A 0-dim host tensor as a graph input, captured by value now.
Value ScalarOperand(const at::Tensor& t) {
  bool wrapped = t.unsafeGetTensorImpl()->is_wrapped_number();
  at::Tensor value = wrapped ? t : t.clone();
  if (wrapped) value.unsafeGetTensorImpl()->set_wrapped_number(true);
  return Value{MakeNode<ScalarParam>(std::move(value))};
}

hash_t ScalarHash(const at::Scalar& s) {
  hash_t h = Hash(s.type());
  if (s.isComplex()) return HashCombine(h, HashAll(s.toComplexDouble().real(), s.toComplexDouble().imag()));
  return HashCombine(h, s.isFloatingPoint() ? Hash(s.toDouble()) : Hash(s.toLong()));
}

// What shape inference may see of a scalar operand's value: its sign (meta kernels reject negative
// integer powers and non-positive norms), never the value itself. A training loop's changing scalars (a
// scheduled learning rate, Adam's bias corrections) then reuse the cached meta result every step.
hash_t SignHash(double v) { return Hash(static_cast<int64_t>(std::isnan(v) ? 2 : (v > 0) - (v < 0))); }

[[noreturn]] void DeviceMismatch(c10::Device a, c10::Device b) {
  TORCH_CHECK(false, "Expected all tensors to be on the same device, but found at least two devices, ", a, " and ", b,
              "!");
}

}  // namespace

void Tracer::UseDevice(c10::Device device) {
  if (!device_) {
    device_ = device;
  } else if (*device_ != device) {
    DeviceMismatch(*device_, device);
  }
}

metrics::Counter* Tracer::TraceTimeCounter() {
  static auto* counter = metrics::GetCounter("TraceTimeNs");
  return counter;
}

MetaArg::operator const at::Tensor&() const {
  if (!meta_.defined()) meta_ = as_meta_ ? MetaOf(source()) : source();
  return meta_;
}

void Tracer::LazyOperand(const at::Tensor& plain) {
  operands_.push_back(ValueOf(plain));
  AddToKey(HashAll(plain.sizes(), plain.strides(), plain.scalar_type(), plain.storage_offset()));
}

MetaArg Tracer::Input(const at::Tensor& t) {
  if (IsLazy(t)) {
    UseDevice(t.device());
    // Conjugate-aware kernels (mm, clone, ...) get tensors with math bits: the graph sees plain data.
    if (t.is_conj() || t.is_neg()) {
      at::Tensor plain = ResolveMathBits(t);
      LazyOperand(plain);
      return MetaArg::Owning(std::move(plain), true);
    }
    LazyOperand(t);
    return MetaArg::Borrowing(t, true);
  }
  if (t.device().is_cpu() && t.dim() == 0) {
    operands_.push_back(ScalarOperand(t));
    // Its sign, read without item() (a dispatcher call); a wrapped Python number promotes differently
    // from a 0-dim tensor of the same dtype.
    AddToKey(HashCombine(SignHash(c10::fetch_and_cast<double>(t.scalar_type(), t.const_data_ptr())),
                         HashAll(t.scalar_type(), t.unsafeGetTensorImpl()->is_wrapped_number(), t.is_neg(), t.is_conj())));
    return MetaArg::Borrowing(t, false);  // meta kernels take host scalars as eager kernels do
  }
  DeviceMismatch(device_.value_or(t.device().is_cpu() ? c10::Device(c10::DeviceType::PrivateUse1, 0) : t.device()),
                 t.device());
}

std::optional<at::Tensor> Tracer::Input(const std::optional<at::Tensor>& t) {
  AddToKey(Hash(t.has_value() && t->defined()));
  if (!t.has_value() || !t->defined()) return std::nullopt;
  return static_cast<const at::Tensor&>(Input(*t));
}

std::vector<at::Tensor> Tracer::Input(at::TensorList ts) {
  AddToKey(Hash(static_cast<int64_t>(ts.size())));
  std::vector<at::Tensor> metas;
  metas.reserve(ts.size());
  for (const auto& t : ts) metas.emplace_back(Input(t));
  return metas;
}

std::vector<at::Tensor> Tracer::Input(const at::ITensorListRef& ts) {
  AddToKey(Hash(static_cast<int64_t>(ts.size())));
  std::vector<at::Tensor> metas;
  for (const at::Tensor& t : ts) metas.emplace_back(Input(t));
  return metas;
}

// Only indexing ops take optional-tensor lists. Their indices may live on the host, as eager CUDA
// indexing allows: they are copied to the device.
c10::List<std::optional<at::Tensor>> Tracer::Input(const c10::List<std::optional<at::Tensor>>& ts) {
  c10::List<std::optional<at::Tensor>> metas;
  AddToKey(Hash(static_cast<int64_t>(ts.size())));
  for (std::optional<at::Tensor> t : ts) {
    if (t.has_value() && t->defined() && t->device().is_cpu()) t = t->to(device_.value_or(MakeDevice()));
    metas.push_back(Input(t));
  }
  return metas;
}

void Tracer::Scalar(const at::Scalar& s, bool sets_size) {
  operands_.push_back(Value{MakeNode<ScalarParam>(s)});
  const double real = s.isComplex() ? s.toComplexDouble().real() : s.toDouble();
  AddToKey(sets_size ? ScalarHash(s) : HashCombine(Hash(s.type()), SignHash(real)));
}

void Tracer::Scalar(const std::optional<at::Scalar>& s, bool sets_size) {
  AddToKey(Hash(s.has_value()));
  if (s.has_value()) Scalar(*s, sets_size);
}

hash_t Tracer::MetaKey(hash_t attrs) const {
  return HashCombine(HashCombine(key_, attrs), Hash(c10::typeMetaToScalarType(c10::get_default_dtype())));
}

void Tracer::SetDevice(std::optional<c10::Device> device) {
  if (device.has_value() && device->type() == c10::DeviceType::PrivateUse1) {
    UseDevice(c10::Device(device->type(), device->index() < 0 ? 0 : device->index()));
  }
}

at::Tensor Tracer::Output(const NodePtr& node, size_t index, const at::Tensor& meta) {
  TORCH_CHECK(device_.has_value(), "lazyplus: cannot tell the device of the result of ", node->op());
  if (node->shape(index).dtype == at::ScalarType::Undefined) return at::Tensor();
  // Eager's strides where they permute the contiguous ones (LAPACK's column-major results, FFTs,
  // pointwise ops on transposed or channels-last inputs); other layouts come out contiguous.
  if (!meta.is_contiguous() && meta.is_non_overlapping_and_dense()) {
    return MakeLazyTensor(Value{node, index}, *device_, meta.strides());
  }
  return MakeLazyTensor(Value{node, index}, *device_);
}

at::Tensor Tracer::Wrap(const NodePtr& node, const at::Tensor& meta) {
  traced_->Add();
  return Output(node, 0, meta);
}

std::vector<at::Tensor> Tracer::Wrap(const NodePtr& node, const std::vector<at::Tensor>& metas) {
  traced_->Add();
  std::vector<at::Tensor> outs;
  for (size_t i = 0; i < node->num_outputs(); ++i) outs.push_back(Output(node, i, metas.at(i)));
  return outs;
}

// An undefined output (a backward's unrequested gradient) has dtype Undefined and stays undefined.
Shape ShapeOf(const at::Tensor& t) {
  if (!t.defined()) return Shape{at::ScalarType::Undefined, {}};
  return Shape{t.scalar_type(), c10::DimVector(t.sizes())};
}

Shapes ShapesOf(const at::Tensor& t) { return {ShapeOf(t)}; }

Shapes ShapesOf(const std::vector<at::Tensor>& ts) {
  Shapes shapes;
  for (const auto& t : ts) shapes.push_back(ShapeOf(t));
  return shapes;
}

namespace {

void WriteResult(const at::Tensor& dst, const at::Tensor& result) {
  TORCH_CHECK(c10::canCast(result.scalar_type(), dst.scalar_type()), "result type ", result.scalar_type(),
              " can't be cast to the desired output type ", dst.scalar_type());
  auto lock = LockRecording();  // no sync between reading the value and writing it
  Value v = ValueOf(result);
  if (result.scalar_type() != dst.scalar_type()) v = Value{MakeNode<Convert>(v, dst.scalar_type())};
  WriteValue(dst, std::move(v));
}

}  // namespace

void WriteInplace(const at::Tensor& self, const at::Tensor& result) {
  TORCH_CHECK(self.sizes() == result.sizes(), "output with shape ", self.sizes(),
              " doesn't match the broadcast shape ", result.sizes());
  WriteResult(self, result);
}

void WriteOut(const at::Tensor& out, const at::Tensor& result) {
  TORCH_CHECK(IsLazy(out), "Expected out tensor to have device ", result.device(), ", but got ", out.device(),
              " instead");
  at::native::resize_output(out, result.sizes());
  at::assert_no_internal_overlap(out);  // eager's out= kernels write no repeated memory (WriteValue would)
  WriteResult(out, result);
}

void WriteOut(at::TensorList outs, const std::vector<at::Tensor>& results) {
  TORCH_CHECK(outs.size() == results.size(), "Expected ", results.size(), " out tensors, got ", outs.size());
  for (size_t i = 0; i < outs.size(); ++i) WriteOut(outs[i], results[i]);
}

}  // namespace lazyplus
