#include "backend/cpu/host_stream.h"

#include <ATen/Parallel.h>
#include <c10/util/thread_name.h>
#include <pthread.h>

#include <thread>
#include <vector>

namespace lazyplus {
namespace {

// A forked child has none of the parent's threads: its streams start afresh.
std::mutex streams_mutex;
std::vector<HostStream*>& Streams() {
  static auto* streams = new std::vector<HostStream*>();
  return *streams;
}

}  // namespace

void HostStream::Enqueue(std::function<void()> work) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!started_) {
    started_ = true;
    static const bool fork_handler = [] { return pthread_atfork(nullptr, nullptr, [] {
      for (HostStream* s : Streams()) new (s) HostStream();  // the child's copy of a stream owns no thread
    }) == 0; }();
    (void)fork_handler;
    {
      std::lock_guard<std::mutex> streams_lock(streams_mutex);
      Streams().push_back(this);
    }
    std::thread([this] { Loop(); }).detach();  // streams live as long as the process
  }
  queue_.push_back(std::move(work));
  wake_.notify_one();
}

void HostStream::Synchronize() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

void HostStream::Loop() {
  c10::setThreadName("lazyplus_stream");
  at::init_num_threads();
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return !queue_.empty(); });
    {
      auto work = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      work();  // never throws: failures land in the output buffers
    }  // frees what the work held (its graph, its inputs) before it counts as done
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
}

}  // namespace lazyplus
