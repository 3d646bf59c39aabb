#include "device/buffer.h"

#include <c10/util/Exception.h>

namespace lazyplus {

void Event::Set() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ready_ = true;
  }
  set_.notify_all();
}

void Event::Wait() const {
  std::unique_lock<std::mutex> lock(mutex_);
  set_.wait(lock, [&] { return ready_; });
}

bool Event::ready() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ready_;
}

Buffer::Buffer(c10::Device device, at::ScalarType dtype, size_t nbytes, EventPtr ready)
    : device_(device), dtype_(dtype), nbytes_(nbytes), ready_(std::move(ready)) {}

Buffer::Buffer(c10::Device device, at::Tensor memory)
    : device_(device),
      dtype_(memory.scalar_type()),
      nbytes_(memory.nbytes()),
      ready_(std::make_shared<Event>()),
      memory_(std::move(memory)) {
  TORCH_INTERNAL_ASSERT(memory_.is_contiguous() && memory_.dim() == 1 && memory_.storage_offset() == 0);
  ready_->Set();
}

std::shared_ptr<Buffer> Buffer::Failed(c10::Device device, at::ScalarType dtype, size_t nbytes,
                                       std::exception_ptr error) {
  auto buffer = std::make_shared<Buffer>(device, dtype, nbytes, std::make_shared<Event>());
  buffer->Fail(std::move(error));
  buffer->ready_->Set();
  return buffer;
}

const at::Tensor& Buffer::memory() const {
  ready_->Wait();
  if (error_) std::rethrow_exception(error_);
  return memory_;
}

at::Tensor Buffer::MemoryAs(at::ScalarType dtype) const { return FlatAs(memory(), dtype); }

at::Tensor FlatAs(const at::Tensor& flat, at::ScalarType dtype) {
  if (flat.scalar_type() == dtype) return flat;
  TORCH_CHECK(flat.nbytes() % c10::elementSize(dtype) == 0, "lazyplus: storage of ", flat.nbytes(),
              " bytes cannot be viewed as ", dtype);
  return flat.view(at::kByte).view(dtype);
}

std::exception_ptr Buffer::error() const { return ready_->ready() ? error_ : nullptr; }

void Buffer::Fill(at::Tensor memory) {
  TORCH_INTERNAL_ASSERT(!ready_->ready() && memory.is_contiguous() && memory.dim() == 1 && memory.storage_offset() == 0 &&
                        static_cast<size_t>(memory.nbytes()) == nbytes_ && memory.scalar_type() == dtype_);
  memory_ = std::move(memory);
}

void Buffer::Fail(std::exception_ptr error) {
  TORCH_INTERNAL_ASSERT(!ready_->ready());
  error_ = std::move(error);
}

}  // namespace lazyplus
