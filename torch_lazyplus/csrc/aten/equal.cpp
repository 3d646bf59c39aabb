#include <ATen/ops/all.h>
#include <ATen/ops/eq.h>
#include <torch/library.h>

namespace lazyplus {
namespace {

using at::Tensor;

// torch.equal returns a bool, so it syncs; recorded as `(self == other).all()` the sync runs one small
// graph instead of the CPU fallback's two copies. Eager's semantics: values compared after type
// promotion, NaN unequal to itself, different sizes unequal.
bool Equal(const Tensor& self, const Tensor& other) {
  TORCH_CHECK(self.device() == other.device(), "Cannot compare two tensors on different devices. Got: ",
              self.device(), " and ", other.device());
  if (!self.is_same_size(other)) return false;
  return at::eq(self, other).all().item<bool>();
}

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) { m.impl("equal", TORCH_FN(Equal)); }

}  // namespace
}  // namespace lazyplus
