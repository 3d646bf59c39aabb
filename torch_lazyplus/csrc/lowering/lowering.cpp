#include "lowering/lowering.h"

#include <c10/util/Exception.h>

#include <cstdlib>

namespace lazyplus {
namespace {

const Lowering* active = nullptr;

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
  if (!active) {
    const char* env = std::getenv("LAZYPLUS_LOWERING");
    SetLowering(env && *env ? env : "fused");
  }
  return *active;
}

}  // namespace lazyplus
