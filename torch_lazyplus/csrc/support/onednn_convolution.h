#pragma once
// Whether ATen's CPU convolution runs a float32 (N, C, H, W) convolution on oneDNN
// (ConvParams::use_mkldnn, Convolution.cpp): shape inference predicts eager's output layout from it,
// and the CPU backend runs such convolutions channels-last.
#include <ATen/Config.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include <algorithm>

namespace lazyplus {

inline bool OneDnnConvolves(const at::Tensor& input, const at::Tensor& weight, at::IntArrayRef stride,
                            at::IntArrayRef dilation, int64_t groups) {
  if (!AT_MKLDNN_ENABLED() || !at::globalContext().userEnabledMkldnn()) return false;
  auto other_than_1 = [](at::IntArrayRef v) { return std::any_of(v.begin(), v.end(), [](int64_t x) { return x != 1; }); };
  const int64_t n = input.size(0), kh = weight.size(-2), kw = weight.size(-1);
  return (other_than_1(stride) || other_than_1(dilation) || n >= 16 || kw != 1 || kh != 1 ||
          at::get_num_threads() > 1) &&
         (groups > 1 || (kw > 3 && kh > 3) || n > 1 || n * input.size(1) * input.size(2) * input.size(3) > 20480);
}

}  // namespace lazyplus
