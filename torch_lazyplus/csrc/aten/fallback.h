#pragma once
// The CPU fallback for ops with no lazy kernel: inputs are synced and copied to the host, the op
// runs there, and results (and mutated arguments) are copied back. Counted as aten::<op>, warned
// about once per op, and an error under LAZYPLUS_STRICT=1.
#include <ATen/core/boxing/impl/boxing.h>
#include <ATen/core/dispatch/Dispatcher.h>

namespace lazyplus {

void CpuFallback(const c10::OperatorHandle& op, torch::jit::Stack* stack);
// What every fallback shares around `run` (which runs the op on host copies): the strict-mode error,
// the sync reason, the aten::<op> counter, the explainer's record and the warning.
using HostRunner = void (*)(const c10::OperatorHandle& op, torch::jit::Stack* stack);
void RunOnHost(const c10::OperatorHandle& op, torch::jit::Stack* stack, HostRunner run);
void SetStrict(bool strict);
// Forgets which ops were warned about, so the next fallback of each warns again.
void ResetFallbackWarnings();
bool IsStrict();

// Calls CpuFallback from an unboxed kernel. Like at::native::call_fallback_fn_symint, but templated
// on the signature rather than the op, so generated kernels of one signature share one boxing
// instantiation (the per-op version was a quarter of the build's compile time).
template <class Sig>
struct FallbackCall;
template <class Return, class... Args>
struct FallbackCall<Return(Args...)> {
  static Return call(const char* name, const char* overload, Args... args) {
    auto op = c10::Dispatcher::singleton().findSchemaOrThrow(name, overload);
    return c10::impl::BoxedKernelWrapper<Return(Args...)>::call(
        c10::BoxedKernel::makeFromFunction<&CpuFallback>(), op, c10::DispatchKeySet(), args...);
  }
};

}  // namespace lazyplus
