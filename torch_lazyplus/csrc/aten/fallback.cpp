#include "aten/fallback.h"

#include <ATen/native/CPUFallback.h>
#include <torch/library.h>

#include <cstdlib>
#include <mutex>
#include <unordered_set>

#include "runtime/explain.h"
#include "support/metrics.h"
#include "tensor/sync_reason.h"

namespace lazyplus {
namespace {

int strict_mode = -1;  // -1: read LAZYPLUS_STRICT on first use

std::mutex warned_mutex;
std::unordered_set<std::string> warned;

void WarnOnce(const std::string& name) {
  std::lock_guard<std::mutex> lock(warned_mutex);
  if (!warned.insert(name).second) return;
  TORCH_WARN("lazyplus: ", name, " has no lazy kernel and ran on the CPU (a sync and two copies). "
             "Set LAZYPLUS_STRICT=1 to make this an error.");
}

// cpu_fallback copies results back into out= tensors of any device; eager's kernels require them on
// the device of the inputs (torch.nonzero(lazy, out=host_tensor) raises at the op).
void CheckOutDevices(const c10::FunctionSchema& schema, const torch::jit::Stack& stack) {
  const size_t first = stack.size() - schema.arguments().size();
  std::optional<c10::Device> device;
  for (size_t i = 0; i < schema.arguments().size(); ++i) {
    const c10::IValue& v = stack[first + i];
    if (!v.isTensor() || !v.toTensor().defined()) continue;
    const at::Tensor& t = v.toTensor();
    if (!schema.arguments()[i].is_out() && (t.device().is_cpu() || device)) continue;
    if (!device) device = t.device();
    TORCH_CHECK(t.device() == *device, "Expected all tensors to be on the same device, but found at least two "
                "devices, ", *device, " and ", t.device(), "!");
  }
}

}  // namespace

void ResetFallbackWarnings() {
  std::lock_guard<std::mutex> lock(warned_mutex);
  warned.clear();
}

void SetStrict(bool strict) { strict_mode = strict ? 1 : 0; }

bool IsStrict() {
  if (strict_mode < 0) {
    const char* env = std::getenv("LAZYPLUS_STRICT");
    strict_mode = env && std::string(env) == "1";
  }
  return strict_mode == 1;
}

void RunOnHost(const c10::OperatorHandle& op, torch::jit::Stack* stack, HostRunner run) {
  const std::string name = op.schema().operator_name().name;  // "aten::<op>"
  const std::string full = op.schema().operator_name().overload_name.empty()
                               ? name
                               : name + "." + op.schema().operator_name().overload_name;
  TORCH_CHECK(!IsStrict(), "lazyplus: ", full, " has no lazy kernel and would fall back to the CPU "
              "(LAZYPLUS_STRICT=1)");
  // Ops whose output shape depends on the data (nonzero, unique, ...) cannot be recorded at all.
  const bool data_dependent = op.hasTag(at::Tag::dynamic_output_shape);
  CheckOutDevices(op.schema(), *stack);
  {
    SyncReasonGuard reason((data_dependent ? "data-dependent:" : "fallback:") + full);
    run(op, stack);  // invalid input raises eager's error here, before any warning
  }
  metrics::GetCounter(name)->Add();
  explain::OnFallback(full, data_dependent, CaptureCallSite());
  WarnOnce(full);
}

void CpuFallback(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  RunOnHost(op, stack, [](const c10::OperatorHandle& op, torch::jit::Stack* stack) {
    at::native::cpu_fallback(op, stack);
  });
}

TORCH_LIBRARY_IMPL(_, PrivateUse1, m) { m.fallback(torch::CppFunction::makeFromBoxedFunction<&CpuFallback>()); }

// Autocast needs a fallthrough for every op it has no policy for.
TORCH_LIBRARY_IMPL(_, AutocastPrivateUse1, m) { m.fallback(torch::CppFunction::makeFallthrough()); }

}  // namespace lazyplus
