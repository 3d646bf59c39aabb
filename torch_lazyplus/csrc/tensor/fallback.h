#pragma once
// The CPU fallback for ops with no lazy kernel: inputs are synced and copied to the host, the op
// runs there, and results (and mutated arguments) are copied back. Counted as aten::<op>, warned
// about once per op, and an error under LAZYPLUS_STRICT=1.
#include <ATen/core/dispatch/Dispatcher.h>

namespace lazyplus {

void CpuFallback(const c10::OperatorHandle& op, torch::jit::Stack* stack);
void SetStrict(bool strict);
// Forgets which ops were warned about, so the next fallback of each warns again.
void ResetFallbackWarnings();
bool IsStrict();

}  // namespace lazyplus
