#include "distributed/host_work.h"

#include <ATen/ops/empty.h>

#include "backend/backend.h"
#include "device/device.h"
#include "tensor/pending.h"

namespace lazyplus {

HostWork::HostWork(c10::intrusive_ptr<c10d::Work> gloo, std::vector<at::Tensor> lazy, std::vector<at::Tensor> host)
    : gloo_(std::move(gloo)), lazy_(std::move(lazy)), host_(std::move(host)) {}

void HostWork::WriteBack() {
  std::call_once(written_, [&] {
    for (size_t i = 0; i < lazy_.size(); ++i) lazy_[i].copy_(host_[i]);
  });
}

bool HostWork::isCompleted() {
  if (!gloo_->isCompleted()) return false;
  if (gloo_->isSuccess()) WriteBack();
  return true;
}

bool HostWork::wait(std::chrono::milliseconds timeout) {
  bool done = gloo_->wait(timeout);  // raises gloo's error
  WriteBack();
  return done;
}

c10::intrusive_ptr<c10::ivalue::Future> HostWork::getFuture() {
  auto self = c10::intrusive_ptr<HostWork>::reclaim_copy(this);
  return gloo_->getFuture()->then(
      [self](c10::ivalue::Future&) {
        self->WriteBack();
        return c10::IValue(self->lazy_);
      },
      c10::ListType::ofTensors());
}

void RunRecordedFirst(const std::string& op) {
  SyncAll("collective:" + op);
  for (c10::DeviceIndex d = 0; d < DeviceCount(); ++d) BackendFor(d).Synchronize();
}

std::vector<at::Tensor> HostCopies(at::TensorList tensors) {
  std::vector<at::Tensor> host;
  for (const at::Tensor& t : tensors) host.push_back(t.to(at::kCPU, /*non_blocking=*/false, /*copy=*/true));
  return host;
}

std::vector<at::Tensor> HostLike(at::TensorList tensors) {
  std::vector<at::Tensor> host;
  for (const at::Tensor& t : tensors) host.push_back(at::empty(t.sizes(), t.options().device(at::kCPU)));
  return host;
}

c10::intrusive_ptr<c10d::Work> RecordedWork(std::vector<at::Tensor> outputs) {
  auto future = c10::make_intrusive<c10::ivalue::Future>(c10::ListType::ofTensors());
  future->markCompleted(c10::IValue(std::move(outputs)));
  return c10d::Work::create_from_future(future);
}

}  // namespace lazyplus
