// Random ops draw their numbers on the host, from the lazyplus generator's host generator, and enter
// the graph as data: seeds work as on CPU and a changed draw never changes the graph. A draw that reads
// no lazy values is noted for capture_step, whose replays draw it again, in the recorded order.
#include <ATen/ops/bernoulli.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/mul.h>
#include <ATen/ops/multinomial.h>
#include <ATen/ops/normal.h>
#include <ATen/ops/ones_like.h>
#include <ATen/ops/randperm.h>
#include <functional>
#include <torch/library.h>

#include "device/generator.h"
#include "tensor/lazy_tensor.h"
#include "tensor/step_recording.h"

namespace lazyplus {
namespace {

using Gen = std::optional<at::Generator>;
using Draw = std::function<void(at::Tensor& host, const at::Generator& gen)>;

// Writes into `self` what `draw` writes into a host tensor of its sizes and dtype.
void WriteDrawn(const at::Tensor& self, at::Generator gen, Draw draw) {
  auto host_options = self.options().device(c10::kCPU);
  at::Tensor host = at::empty(self.sizes(), host_options);
  draw(host, gen);
  BufferPtr uploaded = WriteHost(self, host);
  if (uploaded && step_recording_active.load(std::memory_order_relaxed)) {
    StepRecording::NoteDraw(uploaded, gen, [sizes = self.sizes().vec(), host_options, gen, draw] {
      at::Tensor again = at::empty(sizes, host_options);
      draw(again, gen);
      return again;
    });
  }
}

template <typename F>
at::Tensor& FillRandom(at::Tensor& self, const Gen& gen, F draw) {
  WriteDrawn(self, HostGenerator(gen, self.device().index()), draw);
  return self;
}

// A new lazy tensor on `device` holding a host result.
at::Tensor ToDevice(const at::Tensor& host, c10::Device device) {
  at::Tensor t = at::empty(host.sizes(), host.options().device(device));
  WriteHost(t, host.contiguous());
  return t;
}

at::Tensor& Normal(at::Tensor& self, double mean, double std, Gen gen) {
  return FillRandom(self, gen, [=](at::Tensor& h, const at::Generator& g) { h.normal_(mean, std, g); });
}
at::Tensor& Uniform(at::Tensor& self, double from, double to, Gen gen) {
  return FillRandom(self, gen, [=](at::Tensor& h, const at::Generator& g) { h.uniform_(from, to, g); });
}
at::Tensor& BernoulliFloat(at::Tensor& self, double p, Gen gen) {
  return FillRandom(self, gen, [=](at::Tensor& h, const at::Generator& g) { h.bernoulli_(p, g); });
}
at::Tensor& BernoulliTensor(at::Tensor& self, const at::Tensor& p, Gen gen) {
  at::Tensor host_p = IsLazy(p) ? HostView(p, "random") : p;
  return FillRandom(self, gen, [=](at::Tensor& h, const at::Generator& g) { h.bernoulli_(host_p, g); });
}
at::Tensor& RandomFrom(at::Tensor& self, int64_t from, std::optional<int64_t> to, Gen gen) {
  return FillRandom(self, gen, [=](at::Tensor& h, const at::Generator& g) { h.random_(from, to, g); });
}
at::Tensor& RandomTo(at::Tensor& self, int64_t to, Gen gen) {
  return FillRandom(self, gen, [=](at::Tensor& h, const at::Generator& g) { h.random_(to, g); });
}
at::Tensor& Random(at::Tensor& self, Gen gen) {
  return FillRandom(self, gen, [=](at::Tensor& h, const at::Generator& g) { h.random_(g); });
}
at::Tensor& Exponential(at::Tensor& self, double lambd, Gen gen) {
  return FillRandom(self, gen, [=](at::Tensor& h, const at::Generator& g) { h.exponential_(lambd, g); });
}
at::Tensor& Geometric(at::Tensor& self, double p, Gen gen) {
  return FillRandom(self, gen, [=](at::Tensor& h, const at::Generator& g) { h.geometric_(p, g); });
}
at::Tensor& LogNormal(at::Tensor& self, double mean, double std, Gen gen) {
  return FillRandom(self, gen, [=](at::Tensor& h, const at::Generator& g) { h.log_normal_(mean, std, g); });
}
at::Tensor& Cauchy(at::Tensor& self, double median, double sigma, Gen gen) {
  return FillRandom(self, gen, [=](at::Tensor& h, const at::Generator& g) { h.cauchy_(median, sigma, g); });
}

at::Tensor Bernoulli(const at::Tensor& self, Gen gen) {
  return ToDevice(at::bernoulli(HostView(self, "random"), HostGenerator(gen, self.device().index())), self.device());
}
at::Tensor Multinomial(const at::Tensor& self, int64_t n, bool replacement, Gen gen) {
  return ToDevice(at::multinomial(HostView(self, "random"), n, replacement, HostGenerator(gen, self.device().index())),
                  self.device());
}
at::Tensor NormalTensorFloat(const at::Tensor& mean, double std, Gen gen) {
  return ToDevice(at::normal(HostView(mean, "random"), std, HostGenerator(gen, mean.device().index())), mean.device());
}
at::Tensor NormalFloatTensor(double mean, const at::Tensor& std, Gen gen) {
  return ToDevice(at::normal(mean, HostView(std, "random"), HostGenerator(gen, std.device().index())), std.device());
}
at::Tensor NormalTensorTensor(const at::Tensor& mean, const at::Tensor& std, Gen gen) {
  return ToDevice(at::normal(HostView(mean, "random"), HostView(std, "random"),
                             HostGenerator(gen, mean.device().index())),
                  mean.device());
}
at::Tensor& RandpermOut(int64_t n, Gen gen, at::Tensor& out) {
  out.resize_({n});
  WriteDrawn(out, HostGenerator(gen, out.device().index()),
             [n](at::Tensor& h, const at::Generator& g) { at::randperm_out(h, n, g); });
  return out;
}

// Dropout's mask is drawn on the host; the masking itself is traced.
std::tuple<at::Tensor, at::Tensor> NativeDropout(const at::Tensor& input, double p, std::optional<bool> train) {
  if (!train.value_or(true) || p == 0) {
    return {input.clone(), at::ones_like(input, input.options().dtype(at::kBool))};
  }
  at::Tensor mask = at::empty(input.sizes(), input.options().dtype(at::kBool));
  WriteDrawn(mask, HostGenerator(std::nullopt, input.device().index()),
             [keep = 1 - p](at::Tensor& h, const at::Generator& g) { h.bernoulli_(keep, g); });
  double scale = p == 1 ? 0.0 : 1.0 / (1.0 - p);
  at::Tensor output = at::mul(input, mask);
  output.mul_(scale);  // as eager's CPU kernel: an integral input raises its cast error here
  return {output, mask};
}

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("normal_", TORCH_FN(Normal));
  m.impl("uniform_", TORCH_FN(Uniform));
  m.impl("bernoulli_.float", TORCH_FN(BernoulliFloat));
  m.impl("bernoulli_.Tensor", TORCH_FN(BernoulliTensor));
  m.impl("random_.from", TORCH_FN(RandomFrom));
  m.impl("random_.to", TORCH_FN(RandomTo));
  m.impl("random_", TORCH_FN(Random));
  m.impl("exponential_", TORCH_FN(Exponential));
  m.impl("geometric_", TORCH_FN(Geometric));
  m.impl("log_normal_", TORCH_FN(LogNormal));
  m.impl("cauchy_", TORCH_FN(Cauchy));
  m.impl("bernoulli", TORCH_FN(Bernoulli));
  m.impl("multinomial", TORCH_FN(Multinomial));
  m.impl("normal.Tensor_float", TORCH_FN(NormalTensorFloat));
  m.impl("normal.float_Tensor", TORCH_FN(NormalFloatTensor));
  m.impl("normal.Tensor_Tensor", TORCH_FN(NormalTensorTensor));
  m.impl("randperm.generator_out", TORCH_FN(RandpermOut));
  m.impl("native_dropout", TORCH_FN(NativeDropout));
}

}  // namespace
}  // namespace lazyplus
