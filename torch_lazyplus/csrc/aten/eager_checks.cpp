#include "aten/eager_checks.h"

#include <ATen/ExpandUtils.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/index_ops.h>
#include <ATen/ops/ones.h>
#include <c10/util/Exception.h>

#include <algorithm>

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
  DropWarnings drop;  // eager warns once, from the real kernel
  c10::WarningUtils::WarningHandlerGuard guard(&drop);
  try {
    op.callBoxed(stack);
  } catch (const c10::Error& e) {
    if (IsMetadataError(e)) throw;
  } catch (const std::exception&) {  // oneDNN's errors, say, on the probe's sizes
  }
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
