// The GradScaler's two ops, composed of lazy ops so that unscaling and the scale update stay in the
// step's graph (CPU fallbacks would sync each step).
#include <ATen/TensorOperators.h>
#include <ATen/ops/any_ops.h>
#include <ATen/ops/isfinite_ops.h>
#include <ATen/ops/logical_and_ops.h>
#include <ATen/ops/logical_not_ops.h>
#include <ATen/ops/logical_or_ops.h>
#include <ATen/ops/maximum.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

namespace lazyplus {
namespace {

using at::Tensor;
using OptTensor = std::optional<Tensor>;

void CheckScalarFloat(const Tensor& t, const char* name) {
  TORCH_CHECK(t.numel() == 1, name, " must be a 1-element tensor.");
  TORCH_CHECK(t.scalar_type() == at::kFloat, name, " must be a float tensor.");
}

// Multiplies every gradient by inv_scale and sets found_inf to 1 when any of them holds inf or NaN.
void AmpNonFiniteCheckAndUnscale(at::TensorList grads, Tensor& found_inf, const Tensor& inv_scale) {
  CheckScalarFloat(inv_scale, "inv_scale");
  CheckScalarFloat(found_inf, "found_inf");
  if (grads.empty()) return;
  std::vector<Tensor> non_finite;
  for (const Tensor& grad : grads) {
    TORCH_CHECK(grad.is_floating_point(), "Grads must be floating point.");
    non_finite.push_back(grad.isfinite().logical_not().any());
    grad.mul_(inv_scale.to(grad.scalar_type()));
  }
  found_inf.copy_(at::maximum(found_inf, at::stack(non_finite).any().to(at::kFloat)));  // one write, not one per grad
}

// After an inf/NaN: scale *= backoff and the tracker restarts. Otherwise the tracker counts clean steps,
// and every growth_interval-th one multiplies the scale by growth (unless that overflows).
Tensor& AmpUpdateScale(Tensor& scale, Tensor& growth_tracker, const Tensor& found_inf, double growth,
                       double backoff, int64_t growth_interval) {
  CheckScalarFloat(scale, "current_scale");
  CheckScalarFloat(found_inf, "found_inf");
  TORCH_CHECK(growth_tracker.numel() == 1 && growth_tracker.scalar_type() == at::kInt,
              "growth_tracker must be a 1-element int tensor.");
  Tensor found = found_inf > 0;
  Tensor clean_steps = growth_tracker + 1;
  Tensor grow = clean_steps == growth_interval;
  Tensor grown = scale * growth;
  Tensor new_scale = at::where(found, scale * backoff, at::where(grow.logical_and(grown.isfinite()), grown, scale));
  growth_tracker.copy_(at::where(found.logical_or(grow), at::zeros_like(clean_steps), clean_steps));
  scale.copy_(new_scale);
  return scale;
}

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("_amp_foreach_non_finite_check_and_unscale_", TORCH_FN(AmpNonFiniteCheckAndUnscale));
  m.impl("_amp_update_scale_", TORCH_FN(AmpUpdateScale));
}

}  // namespace
}  // namespace lazyplus
