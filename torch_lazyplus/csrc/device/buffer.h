#pragma once
// Device memory of one value: a Buffer. A program in flight hands out its output Buffers when it is
// launched; their memory arrives when it runs, and whoever reads the memory waits for it. A Buffer
// never changes device, dtype or size, and it is written only by the program that makes it and by a
// later program it is donated to.
#include <ATen/core/Tensor.h>

#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>

namespace lazyplus {

// Set once, when the work it stands for has finished.
class Event {
 public:
  void Set();
  void Wait() const;
  bool ready() const;

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable set_;
  bool ready_ = false;
};
using EventPtr = std::shared_ptr<Event>;

class Buffer {
 public:
  // The buffer a launched program will fill (Fill or Fail, then `ready` is set).
  Buffer(c10::Device device, at::ScalarType dtype, size_t nbytes, EventPtr ready);
  // A ready buffer over `memory`, a contiguous tensor of the target's memory.
  Buffer(c10::Device device, at::Tensor memory);
  // A ready buffer that holds `error` instead of memory.
  static std::shared_ptr<Buffer> Failed(c10::Device device, at::ScalarType dtype, size_t nbytes,
                                        std::exception_ptr error);

  c10::Device device() const { return device_; }  // a lazyplus device
  at::ScalarType dtype() const { return dtype_; }
  size_t nbytes() const { return nbytes_; }
  const Event& ready() const { return *ready_; }
  // The memory, flat; waits until ready and raises the error of the computation that was to fill it.
  const at::Tensor& memory() const;
  // The memory viewed flat as `dtype` (waits, as memory()).
  at::Tensor MemoryAs(at::ScalarType dtype) const;
  // The error that left it empty, once ready; null if none (or not ready yet).
  std::exception_ptr error() const;

  // For the program that fills it, before it sets `ready`.
  void Fill(at::Tensor memory);
  void Fail(std::exception_ptr error);

 private:
  c10::Device device_;
  at::ScalarType dtype_;
  size_t nbytes_;
  EventPtr ready_;
  at::Tensor memory_;
  std::exception_ptr error_;
};
using BufferPtr = std::shared_ptr<Buffer>;

// A flat tensor's bytes viewed flat as `dtype`.
at::Tensor FlatAs(const at::Tensor& flat, at::ScalarType dtype);

}  // namespace lazyplus
