#pragma once
// Output layouts of ops whose C++ meta kernel reports other strides or sizes than the CPU kernel
// produces. The CPU wins: shape inference passes the meta result through these (codegen/ops.yaml,
// cpu_layouts), which restride or resize it as the CPU kernel would. The FFT and LAPACK layouts are
// ported from torch/_meta_registrations.py, whose Python meta kernels (FakeTensor's) model them.
#include <ATen/core/Tensor.h>

#include <tuple>

namespace lazyplus {

at::Tensor FftR2cCpuLayout(const at::Tensor& meta_out, const at::Tensor& self, at::IntArrayRef dim,
                           int64_t normalization, bool onesided);
at::Tensor FftC2rCpuLayout(const at::Tensor& meta_out, const at::Tensor& self, at::IntArrayRef dim,
                           int64_t normalization, const c10::SymInt& last_dim_size);
// Eigenvectors come back column-major (LAPACK's geev writes them so).
std::tuple<at::Tensor, at::Tensor> EigCpuLayout(const std::tuple<at::Tensor, at::Tensor>& meta_out,
                                                const at::Tensor& self);
// oneDNN's workspace of an LSTM layer, kept for its backward: as many bytes as oneDNN asks for with grad
// mode on (the meta kernel says 0), undefined with grad mode off (as the CPU kernel returns it).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> RnnLayerCpuWorkspace(
    const std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>& meta_out, const at::Tensor& input,
    const at::Tensor& weight0, const at::Tensor& weight1, const at::Tensor& weight2, const at::Tensor& weight3,
    const at::Tensor& hx, const at::Tensor& cx, bool reverse, at::IntArrayRef batch_sizes, int64_t mode,
    int64_t hidden_size, int64_t num_layers, bool has_biases, bool bidirectional, bool batch_first, bool train);

}  // namespace lazyplus
