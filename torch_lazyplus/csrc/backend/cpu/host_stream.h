#pragma once
// A CPU device's stream: work runs in launch order on a thread of its own, as kernels on a CUDA
// stream, while the launching thread goes on recording.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

namespace lazyplus {

class HostStream {
 public:
  void Enqueue(std::function<void()> work);
  // Waits until every enqueued work has run.
  void Synchronize();

 private:
  void Loop();
  std::mutex mutex_;
  std::condition_variable wake_, idle_;
  std::deque<std::function<void()>> queue_;
  bool busy_ = false;  // running work
  bool started_ = false;
};

}  // namespace lazyplus
