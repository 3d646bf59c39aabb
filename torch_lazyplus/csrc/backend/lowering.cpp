#include "backend/lowering.h"

#include <c10/util/Exception.h>

#include <atomic>
#include <cstdlib>

namespace lazyplus {
namespace {

std::atomic<const Lowering*> active{nullptr};  // set from any thread (use_lowering)

}  // namespace

void SetLowering(const std::string& name) {
  if (name == "reference") {
    active = &ReferenceLowering();
  } else if (name == "fused") {
    active = &FusedLowering();
  } else {
    TORCH_CHECK(false, "Unknown lowering '", name, "'; available: reference, fused");
  }
}

const Lowering& ActiveLowering() {
  if (!active.load()) {
    const char* env = std::getenv("LAZYPLUS_LOWERING");
    SetLowering(env && *env ? env : "fused");
  }
  return *active.load();
}

}  // namespace lazyplus
