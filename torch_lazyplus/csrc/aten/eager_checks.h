#pragma once
// Eager's CPU kernels check more than their meta kernels: dtypes they dispatch on (softmax of int64,
// float `&`), operand dtypes that must agree (mm), scalar arguments (integer `// 0`). Shape inference
// alone would record such an op and raise at an unrelated read. So the first time an op meets new
// metadata, it also runs on small host probes (the operands' dtypes, sizes capped at 2, ones), and
// errors that only metadata can cause are raised at the op, with eager's class and message.
#include <ATen/core/List.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/boxing/impl/boxing.h>
#include <ATen/core/dispatch/Dispatcher.h>

namespace lazyplus {

// Runs `op` on host probes of the boxed arguments in `stack`; rethrows the probe's error if it is one
// of eager's metadata checks, and ignores any other (it may come from the probe's sizes or data).
void CheckOnProbes(const c10::OperatorHandle& op, torch::jit::Stack stack);

// From an unboxed kernel; templated on the signature, as FallbackCall is, to share instantiations.
template <class Sig>
struct CheckAsEager;
template <class Return, class... Args>
struct CheckAsEager<Return(Args...)> {
  static void call(const char* name, const char* overload, Args... args) {
    CheckOnProbes(c10::Dispatcher::singleton().findSchemaOrThrow(name, overload),
                  c10::impl::boxArgs<Args...>(args...));
  }
};

// index_put's meta kernel accepts any value shape; the CPU kernel requires one that broadcasts to the
// indexing result. Known from metadata when no index is a boolean mask (whose count is data).
at::Tensor IndexPutValueShape(const at::Tensor& meta_out, const at::Tensor& self,
                              const c10::List<std::optional<at::Tensor>>& indices, const at::Tensor& values,
                              bool accumulate, bool unsafe = false);

}  // namespace lazyplus
