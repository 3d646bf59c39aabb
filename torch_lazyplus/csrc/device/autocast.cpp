// torch.autocast(device_type="lazyplus"): PyTorch's CPU cast policy (the AutocastCPU lists of
// aten/src/ATen/autocast_mode.cpp) applied to lazyplus tensors. One boxed kernel per policy casts the
// op's floating-point lazyplus arguments, then calls the op again below the autocast key, as ATen's
// autocast wrappers do. The casts are recorded like any op, so they fuse with their neighbours.
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <algorithm>

namespace lazyplus {
namespace {

// Run in the autocast dtype (bfloat16 unless torch.autocast names another).
constexpr const char* kLowerPrecisionOps[] = {
    "conv1d", "conv1d.padding", "conv2d", "conv2d.padding", "conv3d", "conv3d.padding", "bmm", "mm",
    "linalg_vecdot", "baddbmm", "addmm", "addbmm", "linear", "_convolution.deprecated", "matmul", "conv_tbc",
    "mkldnn_rnn_layer", "conv_transpose1d", "conv_transpose2d.input", "conv_transpose3d.input", "prelu",
    "scaled_dot_product_attention", "_native_multi_head_attention"};

// Run in float32: reductions, losses, linear algebra and FFTs that lose too much in bfloat16.
constexpr const char* kFp32Ops[] = {
    "avg_pool3d", "binary_cross_entropy", "grid_sampler", "polar", "prod", "prod.dim_int", "prod.dim_Dimname",
    "quantile", "quantile.scalar", "nanquantile", "nanquantile.scalar", "stft", "stft.center", "cdist",
    "grid_sampler_2d", "_grid_sampler_2d_cpu_fallback", "grid_sampler_3d", "trace", "view_as_complex",
    "cholesky", "cholesky_inverse", "cholesky_solve", "inverse", "lu_solve", "orgqr", "ormqr", "pinverse",
    "max_pool3d", "max_unpool2d", "max_unpool3d", "adaptive_avg_pool3d", "reflection_pad1d", "reflection_pad2d",
    "replication_pad1d", "replication_pad2d", "replication_pad3d", "mse_loss", "cosine_embedding_loss",
    "nll_loss", "nll_loss2d", "hinge_embedding_loss", "poisson_nll_loss", "smooth_l1_loss",
    "cross_entropy_loss", "l1_loss", "huber_loss", "margin_ranking_loss", "soft_margin_loss",
    "triplet_margin_loss", "multi_margin_loss", "ctc_loss.IntList", "ctc_loss.Tensor", "kl_div",
    "multilabel_margin_loss", "binary_cross_entropy_with_logits", "fft_fft", "fft_ifft", "fft_fft2",
    "fft_ifft2", "fft_fftn", "fft_ifftn", "fft_rfft", "fft_irfft", "fft_rfft2", "fft_irfft2", "fft_rfftn",
    "fft_irfftn", "fft_hfft", "fft_ihfft", "linalg_cond", "linalg_cond.p_str", "linalg_matrix_rank",
    "linalg_matrix_rank.tol_tensor", "linalg_matrix_rank.atol_rtol_tensor", "linalg_matrix_rank.atol_rtol_float",
    "linalg_solve", "linalg_cholesky", "linalg_svdvals", "linalg_eigvals", "linalg_eigvalsh", "linalg_inv",
    "linalg_householder_product", "linalg_tensorinv", "linalg_tensorsolve", "fake_quantize_per_tensor_affine",
    "geqrf", "_lu_with_info", "qr", "svd", "triangular_solve", "fractional_max_pool2d", "fractional_max_pool3d",
    "adaptive_max_pool3d", "multilabel_margin_loss_forward", "linalg_qr", "linalg_cholesky_ex", "linalg_svd",
    "linalg_eig", "linalg_eigh", "linalg_lstsq", "linalg_inv_ex"};

// Run in the widest floating type among the arguments.
constexpr const char* kPromoteOps[] = {"stack", "cat", "index_copy", "index_copy.dimname"};

enum class Policy { kLowerPrecision, kFp32, kPromote };

// As ATen's is_eligible: defined floating-point tensors on the autocast device; float64 is left alone.
bool Eligible(const at::Tensor& t) {
  return t.defined() && t.is_privateuseone() && t.is_floating_point() && t.scalar_type() != at::kDouble;
}

bool IsEligibleFloat(const at::Tensor& t) { return Eligible(t) && t.scalar_type() == at::kFloat; }

// ATen's promote_type: float32 wins over the lower precision type.
at::ScalarType PromotedType(c10::ArrayRef<c10::IValue> args) {
  for (const c10::IValue& arg : args) {
    const auto tensors = arg.isTensor() ? std::vector<at::Tensor>{arg.toTensor()}
                         : arg.isTensorList() ? arg.toTensorList().vec() : std::vector<at::Tensor>{};
    if (std::any_of(tensors.begin(), tensors.end(), IsEligibleFloat)) return at::kFloat;
  }
  return at::autocast::get_autocast_dtype(c10::DeviceType::PrivateUse1);
}

at::Tensor CastIfEligible(const at::Tensor& t, at::ScalarType type) {
  return Eligible(t) && t.scalar_type() != type ? t.to(type) : t;
}

template <Policy P>
void CastThenCall(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  const size_t n = op.schema().arguments().size();
  auto args = torch::jit::last(*stack, n);
  const at::ScalarType type = P == Policy::kFp32           ? at::kFloat
                              : P == Policy::kLowerPrecision ? at::autocast::get_autocast_dtype(c10::DeviceType::PrivateUse1)
                                                             : PromotedType(args);
  for (auto arg = stack->end() - n; arg != stack->end(); ++arg) {
    if (arg->isTensor()) {
      *arg = CastIfEligible(arg->toTensor(), type);
    } else if (arg->isTensorList()) {
      std::vector<at::Tensor> cast;
      for (const at::Tensor& t : arg->toTensorList().vec()) cast.push_back(CastIfEligible(t, type));
      *arg = c10::IValue(cast);
    }
  }
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastPrivateUse1);
  op.callBoxed(stack);
}

template <Policy P, size_t N>
void Register(torch::Library& m, const char* const (&ops)[N]) {
  for (const char* op : ops) m.impl(op, torch::CppFunction::makeFromBoxedFunction<&CastThenCall<P>>());
}

TORCH_LIBRARY_IMPL(aten, AutocastPrivateUse1, m) {
  Register<Policy::kLowerPrecision>(m, kLowerPrecisionOps);
  Register<Policy::kFp32>(m, kFp32Ops);
  Register<Policy::kPromote>(m, kPromoteOps);
}

}  // namespace
}  // namespace lazyplus
