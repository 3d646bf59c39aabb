#pragma once
// Autograd inside a kernel that runs below the autograd keys (a program's host step, a custom op's
// CPU kernel): turns the keys and grad mode back on for a scope.
#include <ATen/core/grad_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

namespace lazyplus {

class AutogradOn {
 public:
  AutogradOn() : keys_(WithAutograd()), grad_mode_(true) {}

 private:
  static c10::impl::LocalDispatchKeySet WithAutograd() {
    auto keys = c10::impl::tls_local_dispatch_key_set();
    keys.excluded_ = keys.excluded_ - c10::autograd_dispatch_keyset_with_ADInplaceOrView;
    return keys;
  }
  c10::impl::ForceDispatchKeyGuard keys_;
  at::AutoGradMode grad_mode_;
};

}  // namespace lazyplus
