// The core library without Python: a C++ program linked against libtorch and liblazyplus.so records
// ops on the lazyplus device through ATen, syncs, and compares with the CPU. Exits non-zero at the
// first failed check. Built and run by tests/test_core_cpp.py.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <cstdlib>
#include <iostream>
#include <string>

namespace {

const c10::Device kLazyplus(c10::DeviceType::PrivateUse1, 0);

void Check(bool ok, const std::string& what) {
  std::cout << (ok ? "ok: " : "FAILED: ") << what << std::endl;
  if (!ok) std::exit(1);
}

void CheckClose(const at::Tensor& lazy, const at::Tensor& expected, const std::string& what) {
  Check(lazy.device() == kLazyplus, what + ": on lazyplus:0");
  Check(at::allclose(lazy.cpu(), expected), what + ": equals the CPU's");
}

}  // namespace

int main() {
  Check(c10::get_privateuse1_backend() == "lazyplus", "loading the library names the PrivateUse1 device lazyplus");
  at::Tensor x = at::arange(12, at::kFloat).reshape({3, 4}) - 5;
  at::Tensor w = at::linspace(-1, 1, 8).reshape({4, 2});
  at::Tensor lx = x.to(kLazyplus), lw = w.to(kLazyplus);

  CheckClose((lx * 2 + 1).relu().sum(1), (x * 2 + 1).relu().sum(1), "a pointwise chain and a row sum");
  CheckClose(at::softmax(lx.mm(lw), 1), at::softmax(x.mm(w), 1), "mm, then softmax");

  lx.t()[0].mul_(10);  // through a view of lx's storage
  at::Tensor expected = x.clone();
  expected.t()[0].mul_(10);
  CheckClose(lx, expected, "an in-place op through a view");

  auto sync = c10::Dispatcher::singleton().findSchemaOrThrow("lazyplus::sync", "").typed<void()>();
  at::Tensor pending = lx.exp();
  sync.call();  // torch.ops.lazyplus.sync(): runs every pending computation
  CheckClose(pending, expected.exp(), "a tensor computed by lazyplus::sync");
  return 0;
}
