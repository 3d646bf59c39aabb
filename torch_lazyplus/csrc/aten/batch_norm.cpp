// native_batch_norm updates the running statistics in place: recorded through the functional op and
// two copies, so the update joins the step's graph.
#include <ATen/ops/_native_batch_norm_legit.h>
#include <ATen/ops/_native_batch_norm_legit_no_training.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

namespace lazyplus {
namespace {

using at::Tensor;
using OptTensor = std::optional<Tensor>;

// Training updates the running statistics in place, through the functional op; evaluation returns
// empty saved statistics, as the CPU kernel does.
std::tuple<Tensor, Tensor, Tensor> NativeBatchNorm(const Tensor& input, const OptTensor& weight,
                                                   const OptTensor& bias, const OptTensor& running_mean,
                                                   const OptTensor& running_var, bool training, double momentum,
                                                   double eps) {
  const bool has_stats = running_mean.has_value() && running_mean->defined();
  TORCH_CHECK(has_stats == (running_var.has_value() && running_var->defined()),
              "running_mean and running_var must be given together");
  if (!training) {
    TORCH_CHECK(has_stats, "running_mean and running_var must be defined in evaluation mode");
    auto out = std::get<0>(
        at::_native_batch_norm_legit_no_training(input, weight, bias, *running_mean, *running_var, momentum, eps));
    Tensor none = at::empty({0}, input.options());
    return {out, none, none.clone()};
  }
  if (!has_stats) return at::_native_batch_norm_legit(input, weight, bias, training, momentum, eps);
  auto [out, mean, invstd, new_mean, new_var] = at::_native_batch_norm_legit_functional(
      input, weight, bias, *running_mean, *running_var, training, momentum, eps);
  running_mean->copy_(new_mean);
  running_var->copy_(new_var);
  return {out, mean, invstd};
}

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) { m.impl("native_batch_norm", TORCH_FN(NativeBatchNorm)); }

}  // namespace
}  // namespace lazyplus
