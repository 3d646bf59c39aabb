#include "aten/eager_checks.h"

#include <ATen/ExpandUtils.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/index_ops.h>
#include <ATen/ops/ones.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <unordered_set>

#include "ir/hash.h"
#include "support/metrics.h"

namespace lazyplus {
namespace {

// Messages of eager's CPU checks that depend only on dtypes and scalar arguments, so a probe
// reproduces them exactly. Any other error of a probe may come from its sizes (a view's size
// argument, a pooling window larger than the probe) or its data, and is left to the real run.
constexpr const char* kMetadataErrors[] = {
    "not implemented for '",           // AT_DISPATCH: softmax of int64, float `&`, lgamma of complex
    "ZeroDivisionError",               // integer `x // 0`, `x % 0` (probes hold ones: only a scalar is 0)
    "to have the same dtype",          // mm(int64, float)
    "expected scalar type",            // bmm(float64, float32)
    "does not support bool",           // argmax, topk
    "Boolean inputs not supported",    // relu
    "does not support complex",        // sort
    "only support floating point",     // std, var of integers
    "Expected dtype int32 or int64",   // index_select with a float index
    "complex Scalar to non-complex",   // index_fill of a real tensor with 1j
    "only supports boolean masks",     // x[uint8_mask] = 0
};

bool IsMetadataError(const c10::Error& e) {
  const std::string& msg = e.msg();
  return std::any_of(std::begin(kMetadataErrors), std::end(kMetadataErrors),
                     [&](const char* m) { return msg.find(m) != std::string::npos; });
}

// A host tensor of `t`'s dtype and rank, each size capped at 2: size-1 dims still broadcast and
// empty tensors stay empty, so the kernel takes the real call's path at a few elements' cost.
at::Tensor Probe(const at::Tensor& t) {
  // Host scalars are captured by value at the op (and their sign keys shape inference): kept as they are.
  if (!t.defined() || (t.device().is_cpu() && t.dim() == 0)) return t;
  std::vector<int64_t> sizes(t.sizes().begin(), t.sizes().end());
  for (int64_t& s : sizes) s = std::min<int64_t>(s, 2);
  return at::ones(sizes, t.options().device(c10::kCPU));
}

bool IsOptionalTensorList(const c10::IValue& v) {
  return v.isList() && v.toList().elementType()->kind() == c10::TypeKind::OptionalType;
}

c10::IValue Probe(const c10::IValue& v) {
  if (v.isTensor()) return Probe(v.toTensor());
  if (v.isTensorList()) {
    c10::List<at::Tensor> probes;
    for (const at::Tensor& t : v.toTensorList()) probes.push_back(Probe(t));
    return probes;
  }
  if (IsOptionalTensorList(v)) {  // index_put's indices
    c10::impl::GenericList probes(v.toList().elementType());
    for (const c10::IValue& e : v.toList()) probes.push_back(Probe(e));
    return probes;
  }
  if (v.isDevice()) return c10::Device(c10::kCPU);
  return v;
}

bool HasTensor(const torch::jit::Stack& stack) {
  return std::any_of(stack.begin(), stack.end(), [](const c10::IValue& v) {
    return v.isTensor() || v.isTensorList() || IsOptionalTensorList(v);
  });
}

hash_t ProbeTensorSignature(const at::Tensor& t) {
  if (!t.defined()) return 0x6a09e667;
  hash_t h = HashAll(t.scalar_type(), t.sizes());
  if (t.dim() == 0) {  // a host scalar, kept as it is: its value may decide (`x // 0`)
    const auto* bytes = static_cast<const char*>(t.const_data_ptr());
    h = HashCombine(h, Hash(std::string(bytes, t.element_size())));
  }
  return h;
}

// A non-tensor argument's part of a signature; nullopt for a kind not listed (never remembered).
std::optional<hash_t> ArgumentSignature(const c10::IValue& v) {
  if (v.isNone()) return 0x3c6ef372;
  if (v.isBool()) return Hash(v.toBool());
  if (v.isInt()) return Hash(v.toInt());
  if (v.isDouble()) return Hash(v.toDouble());
  if (v.isComplexDouble()) return HashAll(v.toComplexDouble().real(), v.toComplexDouble().imag());
  if (v.isString()) return Hash(v.toStringRef());
  if (v.isDevice()) return Hash(v.toDevice().str());
  if (v.isIntList()) return Hash(v.toIntVector());
  if (v.isDoubleList()) return Hash(v.toDoubleVector());
  if (v.isBoolList()) return Hash(std::vector<bool>(v.toBoolList().begin(), v.toBoolList().end()));
  return std::nullopt;
}

// What a probed call's outcome depends on: the op, each probe's dtype and sizes, host scalars' values
// and the other arguments.
std::optional<hash_t> ProbeSignature(const c10::OperatorHandle& op, const torch::jit::Stack& probes) {
  hash_t h = Hash(reinterpret_cast<int64_t>(&op.schema()));
  for (const c10::IValue& v : probes) {
    std::optional<hash_t> a;
    if (v.isTensor()) {
      a = ProbeTensorSignature(v.toTensor());
    } else if (v.isTensorList() || IsOptionalTensorList(v)) {
      a = Hash(static_cast<int64_t>(v.toListRef().size()));
      for (const c10::IValue& e : v.toListRef()) {
        *a = HashCombine(*a, e.isNone() ? 0x3c6ef372 : ProbeTensorSignature(e.toTensor()));
      }
    } else {
      a = ArgumentSignature(v);
    }
    if (!a) return std::nullopt;
    h = HashCombine(h, *a);
  }
  return h;
}

class DropWarnings : public c10::WarningHandler {
 public:
  void process(const c10::Warning&) override {}
};

}  // namespace

void CheckOnProbes(const c10::OperatorHandle& op, torch::jit::Stack stack) {
  // Random ops would draw from the host generator; factories have nothing to check. Not with grad
  // mode off: the backward pass records on the autograd engine's device thread, where host kernels
  // start a second OpenMP team (its spinning threads halved the GPT demo's speed, eager's too, on 2
  // cores); no_grad code is therefore not probed either (its dtype errors raise at the first read).
  if (op.hasTag(at::Tag::nondeterministic_seeded) || !HasTensor(stack) || !at::GradMode::is_enabled()) return;
  for (c10::IValue& v : stack) v = Probe(v);
  // A signature probed once without a metadata error passes again: a model's first step meets an op
  // at many sizes that cap to one probe, and a probe is a kernel call on fresh tensors (~20 us; 0.1-0.4
  // ms the first time a oneDNN or MKL kernel meets its sizes). The ResNet CNN's first step probed 23
  // calls before, 12 now.
  static thread_local std::unordered_set<hash_t> passed;
  static auto* probed = metrics::GetCounter("ProbedCalls");
  std::optional<hash_t> signature = ProbeSignature(op, stack);
  if (signature && passed.count(*signature)) return;
  probed->Add();
  DropWarnings drop;  // eager warns once, from the real kernel
  c10::WarningUtils::WarningHandlerGuard guard(&drop);
  try {
    op.callBoxed(stack);
  } catch (const c10::Error& e) {
    if (IsMetadataError(e)) throw;
  } catch (const std::exception&) {  // oneDNN's errors, say, on the probe's sizes
  }
  if (signature) passed.insert(*signature);
}

at::Tensor IndexPutValueShape(const at::Tensor& meta_out, const at::Tensor& self,
                              const c10::List<std::optional<at::Tensor>>& indices, const at::Tensor& values,
                              bool /*accumulate*/, bool /*unsafe*/) {
  for (std::optional<at::Tensor> i : indices) {
    if (i.has_value() && i->defined() && (i->scalar_type() == at::kBool || i->scalar_type() == at::kByte)) return meta_out;
  }
  at::Tensor result = at::_ops::index_Tensor::call(self, indices);
  TORCH_CHECK(at::is_expandable_to(values.sizes(), result.sizes()), "shape mismatch: value tensor of shape ",
              values.sizes(), " cannot be broadcast to indexing result of shape ", result.sizes());
  return meta_out;
}

}  // namespace lazyplus
