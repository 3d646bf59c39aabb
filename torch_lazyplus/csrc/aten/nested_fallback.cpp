// Nested tensors on lazyplus (nn.TransformerEncoder's inference fast path makes them from a padding
// mask). A nested lazyplus tensor is PyTorch's NestedTensorImpl over a lazy buffer; its ops run on the
// host's nested kernels, as the CPU fallback runs dense ops: operands are copied to the host, results
// back to the device.
#include <ATen/NestedTensorImpl.h>
#include <ATen/native/nested/NestedTensorUtils.h>
#include <torch/library.h>

#include "aten/fallback.h"
#include "device/device.h"

namespace lazyplus {
namespace {

// The same nested tensor (sizes, strides, offsets) over a copy of its buffer on `device`.
at::Tensor MoveNested(const at::Tensor& nested, c10::Device device) {
  const at::native::NestedTensorImpl* impl = at::native::get_nested_tensor_impl(nested);
  return at::native::wrap_buffer(impl->get_unsafe_storage_as_tensor().to(device), impl->get_nested_sizes(),
                                 impl->get_nested_strides(), impl->get_storage_offsets());
}

at::Tensor Move(const at::Tensor& t, c10::Device from, c10::Device to) {
  if (!t.defined() || t.device() != from) return t;
  return t.is_nested() ? MoveNested(t, to) : t.to(to);
}

void MoveAll(torch::jit::Stack* stack, size_t first, c10::Device from, c10::Device to) {
  for (size_t i = first; i < stack->size(); ++i) {
    c10::IValue& v = (*stack)[i];
    if (v.isTensor()) {
      v = Move(v.toTensor(), from, to);
    } else if (v.isTensorList()) {
      c10::List<at::Tensor> moved;
      for (const at::Tensor& t : v.toTensorList()) moved.push_back(Move(t, from, to));
      v = moved;
    }
  }
}

std::optional<c10::Device> DeviceOfArguments(const torch::jit::Stack& stack, size_t first) {
  for (size_t i = first; i < stack.size(); ++i) {
    const c10::IValue& v = stack[i];
    if (v.isTensor() && v.toTensor().defined() && v.toTensor().device().type() == kLazyplus) return v.toTensor().device();
    if (v.isTensorList()) {
      for (const at::Tensor& t : v.toTensorList()) {
        if (t.defined() && t.device().type() == kLazyplus) return t.device();
      }
    }
  }
  return std::nullopt;
}

void NestedOnHost(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  const c10::FunctionSchema& schema = op.schema();
  for (const c10::Argument& arg : schema.arguments()) {
    TORCH_CHECK(!arg.alias_info() || !arg.alias_info()->isWrite(), "lazyplus: ", schema.name(),
                " writes into a nested tensor, which lazyplus does not support (out-of-place ops do)");
  }
  const size_t first = stack->size() - schema.arguments().size();
  const c10::Device device = DeviceOfArguments(*stack, first).value_or(MakeDevice());
  // An op that names a device (`.to("cpu")`) puts its results there; any other leaves them on ours.
  const bool names_device = std::any_of(stack->begin() + first, stack->end(), [](const c10::IValue& v) {
    return v.isDevice();
  });
  MoveAll(stack, first, device, c10::Device(c10::kCPU));
  // Redispatched, not called: `_to_copy(nested_host_tensor, device="lazyplus")` comes here too (its
  // backend is chosen from the target device), and the host's nested kernel is what moves it.
  op.redispatchBoxed(c10::DispatchKeySet(c10::DispatchKey::NestedTensorCPU), stack);
  if (!names_device) MoveAll(stack, stack->size() - schema.returns().size(), c10::Device(c10::kCPU), device);
}

void NestedFallback(const c10::OperatorHandle& op, torch::jit::Stack* stack) { RunOnHost(op, stack, &NestedOnHost); }

TORCH_LIBRARY_IMPL(_, NestedTensorPrivateUse1, m) {
  m.fallback(torch::CppFunction::makeFromBoxedFunction<&NestedFallback>());
}

}  // namespace
}  // namespace lazyplus
