#pragma once
// The collectives that run at the call (point-to-point, barrier, the rooted ones) run gloo on host
// copies. Their Work writes the host results into the lazy tensors when it is waited on, as eager's
// tensors hold the result once the Work completes.
#include <torch/csrc/distributed/c10d/Work.hpp>

#include <mutex>
#include <string>
#include <vector>

namespace lazyplus {

class HostWork final : public c10d::Work {
 public:
  // `gloo` writes `host[i]`, which reaches `lazy[i]` once it completes.
  HostWork(c10::intrusive_ptr<c10d::Work> gloo, std::vector<at::Tensor> lazy, std::vector<at::Tensor> host);
  bool isCompleted() override;
  bool isSuccess() const override { return gloo_->isSuccess(); }
  std::exception_ptr exception() const override { return gloo_->exception(); }
  int sourceRank() const override { return gloo_->sourceRank(); }
  std::vector<at::Tensor> result() override { return lazy_; }
  bool wait(std::chrono::milliseconds timeout) override;
  void abort() override { gloo_->abort(); }
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override;

 private:
  void WriteBack();
  c10::intrusive_ptr<c10d::Work> gloo_;
  std::vector<at::Tensor> lazy_, host_;
  std::once_flag written_;
};

// Everything recorded so far runs, and has run, before a collective that runs at the call, so every
// rank calls gloo in the order of its code. The explainer names the collective (`op`) as the sync's cause.
void RunRecordedFirst(const std::string& op);
// Host copies of the tensors' values; new host tensors shaped as they are.
std::vector<at::Tensor> HostCopies(at::TensorList tensors);
std::vector<at::Tensor> HostLike(at::TensorList tensors);

// A Work done at once whose future holds `outputs`: a recorded collective's (its values come with the
// graph that computes them).
c10::intrusive_ptr<c10d::Work> RecordedWork(std::vector<at::Tensor> outputs);

}  // namespace lazyplus
