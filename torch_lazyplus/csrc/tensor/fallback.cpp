#include "tensor/fallback.h"

#include <ATen/native/CPUFallback.h>
#include <torch/library.h>

#include <cstdlib>
#include <mutex>
#include <unordered_set>

#include "runtime/explain.h"
#include "runtime/metrics.h"
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

void CpuFallback(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  const std::string name = op.schema().operator_name().name;  // "aten::<op>"
  const std::string full = op.schema().operator_name().overload_name.empty()
                               ? name
                               : name + "." + op.schema().operator_name().overload_name;
  TORCH_CHECK(!IsStrict(), "lazyplus: ", full, " has no lazy kernel and would fall back to the CPU "
              "(LAZYPLUS_STRICT=1)");
  // Ops whose output shape depends on the data (nonzero, unique, ...) cannot be recorded at all.
  const bool data_dependent = op.hasTag(at::Tag::dynamic_output_shape);
  {
    SyncReasonGuard reason((data_dependent ? "data-dependent:" : "fallback:") + full);
    at::native::cpu_fallback(op, stack);  // invalid input raises eager's error here, before any warning
  }
  metrics::GetCounter(name)->Add();
  explain::OnFallback(full, data_dependent, CaptureCallSite());
  WarnOnce(full);
}

TORCH_LIBRARY_IMPL(_, PrivateUse1, m) { m.fallback(torch::CppFunction::makeFromBoxedFunction<&CpuFallback>()); }

// Autocast needs a fallthrough for every op it has no policy for.
TORCH_LIBRARY_IMPL(_, AutocastPrivateUse1, m) { m.fallback(torch::CppFunction::makeFallthrough()); }

}  // namespace lazyplus
