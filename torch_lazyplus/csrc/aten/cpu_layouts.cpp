#include "aten/cpu_layouts.h"

#include <ATen/Config.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/as_strided.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/mkldnn_rnn_layer.h>
#include <ATen/ops/zeros.h>
#include <c10/util/strides.h>

#include <algorithm>
#include <numeric>

namespace lazyplus {
namespace {

using Dims = std::vector<int64_t>;

// `dims` sorted by decreasing input stride (stable), all of them or all but the last.
Dims SortByStride(c10::IntArrayRef strides, c10::IntArrayRef dims, bool exclude_last = false) {
  Dims sorted(dims.begin(), dims.end());
  auto end = sorted.end() - (exclude_last && !sorted.empty() ? 1 : 0);
  std::stable_sort(sorted.begin(), end, [&](int64_t a, int64_t b) { return strides[a] > strides[b]; });
  return sorted;
}

// The strides _exec_fft (aten/src/ATen/native/mkl/SpectralOps.cpp) gives its output: batch dims first
// in input stride order, collapsed into one, then the transformed `dims`, all contiguous.
Dims ExecFftStrides(c10::IntArrayRef in_strides, c10::IntArrayRef out_sizes, const Dims& dims) {
  const int64_t ndim = static_cast<int64_t>(out_sizes.size());
  std::vector<bool> transformed(ndim, false);
  for (int64_t d : dims) transformed[d] = true;
  Dims order;
  for (int64_t d = 0; d < ndim; ++d) {
    if (!transformed[d]) order.push_back(d);
  }
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return in_strides[a] > in_strides[b]; });
  const int64_t batch_dims = static_cast<int64_t>(order.size());
  Dims signal_sizes;
  for (int64_t d : dims) signal_sizes.push_back(out_sizes[d]);
  auto signal_strides = c10::contiguous_strides(signal_sizes);
  const int64_t batch_stride = std::accumulate(signal_sizes.begin(), signal_sizes.end(), int64_t{1}, std::multiplies<>());
  Dims strides(ndim);
  for (size_t i = 0; i < dims.size(); ++i) strides[dims[i]] = signal_strides[i];
  int64_t batch_numel = 1;
  for (int64_t i = batch_dims - 1; i >= 0; --i) {
    strides[order[i]] = batch_numel * batch_stride;
    batch_numel *= out_sizes[order[i]];
  }
  return strides;
}

at::Tensor Restride(const at::Tensor& t, c10::IntArrayRef strides) { return at::as_strided(t, t.sizes(), strides); }

}  // namespace

at::Tensor FftR2cCpuLayout(const at::Tensor& meta_out, const at::Tensor& self, at::IntArrayRef dim, int64_t,
                           bool) {
  if (!AT_MKL_ENABLED()) return meta_out;
  return Restride(meta_out, ExecFftStrides(self.strides(), meta_out.sizes(), SortByStride(self.strides(), dim, true)));
}

at::Tensor FftC2rCpuLayout(const at::Tensor& meta_out, const at::Tensor& self, at::IntArrayRef dim, int64_t,
                           const c10::SymInt&) {
  if (!AT_MKL_ENABLED()) return meta_out;
  // More than one dim: the leading ones are a c2c transform first, whose output layout the last sees.
  Dims in_strides(self.strides().begin(), self.strides().end());
  if (dim.size() > 1) {
    in_strides = ExecFftStrides(self.strides(), self.sizes(), SortByStride(self.strides(), dim.slice(0, dim.size() - 1)));
  }
  return Restride(meta_out, ExecFftStrides(in_strides, meta_out.sizes(), {dim.back()}));
}

std::tuple<at::Tensor, at::Tensor> EigCpuLayout(const std::tuple<at::Tensor, at::Tensor>& meta_out, const at::Tensor&) {
  const at::Tensor& vectors = std::get<1>(meta_out);
  auto strides = c10::contiguous_strides(vectors.sizes());
  const int64_t n = vectors.dim();
  strides[n - 2] = 1;  // linalg.eig takes square matrices: n >= 2
  strides[n - 1] = vectors.size(n - 2);
  return {std::get<0>(meta_out), Restride(vectors, strides)};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> RnnLayerCpuWorkspace(
    const std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>& meta_out, const at::Tensor& input,
    const at::Tensor& weight0, const at::Tensor& weight1, const at::Tensor& weight2, const at::Tensor& weight3,
    const at::Tensor& hx, const at::Tensor& cx, bool reverse, at::IntArrayRef batch_sizes, int64_t mode,
    int64_t hidden_size, int64_t num_layers, bool has_biases, bool bidirectional, bool batch_first, bool train) {
  const auto& [output, hy, cy, workspace] = meta_out;
  if (!at::GradMode::is_enabled()) return {output, hy, cy, at::Tensor()};
  // Its size is oneDNN's choice (kernel, ISA, padding: 28 KiB for 5 steps of 3 x 6), so we ask oneDNN by
  // running the layer once on zeros of these sizes; the meta cache keeps the answer per shape.
  auto zeros = [](const at::Tensor& t) { return at::zeros(t.sizes(), t.options().device(at::kCPU)); };
  auto cpu = at::mkldnn_rnn_layer(zeros(input), zeros(weight0), zeros(weight1), zeros(weight2), zeros(weight3),
                                  zeros(hx), zeros(cx), reverse, batch_sizes, mode, hidden_size, num_layers,
                                  has_biases, bidirectional, batch_first, train);
  return {output, hy, cy, at::empty({std::get<3>(cpu).numel()}, workspace.options())};
}

}  // namespace lazyplus
