// scaled_dot_product_attention on lazyplus picks the backend the CPU would pick for the same inputs, so
// attention records one CPU flash-attention node (and one for its backward) instead of the math
// decomposition (bmm, softmax, bmm); the CPU backend runs it with its small-attention kernels or ATen's
// (backend/cpu/small_attention.h). PyTorch asks this dispatch stub for every device that registers one.
#include <ATen/SDPBackend.h>
#include <ATen/native/transformers/attention.h>
#include <ATen/ops/_fused_sdp_choice_ops.h>

#include "backend/backend.h"

namespace lazyplus {
namespace {

int64_t ChooseSdpBackend(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                         const std::optional<at::Tensor>& attn_mask, double dropout_p, bool is_causal,
                         std::optional<double> scale, bool enable_gqa) {
  // Dropout inside a fused kernel would draw from the CPU generator at run time; the math path draws
  // from the lazyplus generator while recording, as every random op does.
  // On the CUDA target the CPU's flash kernel would get device memory: the math path, its softmax fused.
  if (dropout_p > 0.0 || Target() != "cpu") return static_cast<int64_t>(at::SDPBackend::math);
  // The CPU's choice reads only metadata (dtypes, shapes, strides, flags), which lazy tensors have.
  return at::_ops::_fused_sdp_choice::redispatch(c10::DispatchKeySet(c10::DispatchKey::CPU), query, key, value,
                                                 attn_mask, dropout_p, is_causal, scale, enable_gqa);
}

}  // namespace
}  // namespace lazyplus

namespace at::native {
REGISTER_PRIVATEUSE1_DISPATCH(_fused_sdp_choice_stub, &lazyplus::ChooseSdpBackend)
}  // namespace at::native
