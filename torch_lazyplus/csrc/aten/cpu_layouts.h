#pragma once
// Output strides of ops whose C++ meta kernel reports another layout than the CPU kernel produces.
// The CPU wins: shape inference passes the meta result through these (codegen/ops.yaml, cpu_layouts),
// which restride it as the CPU kernel would. Ported from torch/_meta_registrations.py, whose Python
// meta kernels (FakeTensor's) model the CPU's MKL FFT and LAPACK layouts.
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

}  // namespace lazyplus
