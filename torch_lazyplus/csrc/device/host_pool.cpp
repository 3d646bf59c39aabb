#include "device/host_pool.h"

#include <ATen/EmptyTensor.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <mutex>
#include <unordered_map>

namespace lazyplus {
namespace {

constexpr size_t kMinCachedBytes = size_t{1} << 18;  // glibc serves smaller blocks well
constexpr size_t kMaxCachedBytes = size_t{2} << 30;

struct Block {
  void* ptr;
  size_t bytes;
};

class HostPool final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t nbytes) override {
    void* ptr = Take(nbytes);
    if (!ptr) ptr = nbytes ? c10::alloc_cpu(nbytes) : nullptr;
    return {ptr, new Block{ptr, nbytes}, &Release, c10::Device(c10::kCPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

  void Empty() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [bytes, ptr] : free_) c10::free_cpu(ptr);
    free_.clear();
    cached_ = 0;
  }

 private:
  void* Take(size_t nbytes) {
    if (nbytes < kMinCachedBytes) return nullptr;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(nbytes);
    if (it == free_.end()) return nullptr;
    void* ptr = it->second;
    free_.erase(it);
    cached_ -= nbytes;
    return ptr;
  }

  bool Keep(const Block& b) {
    if (b.bytes < kMinCachedBytes) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + b.bytes > kMaxCachedBytes) return false;
    free_.emplace(b.bytes, b.ptr);
    cached_ += b.bytes;
    return true;
  }

  static void Release(void* ctx);

  std::mutex mutex_;
  std::unordered_multimap<size_t, void*> free_;
  size_t cached_ = 0;
};

HostPool& Pool() {
  static auto* pool = new HostPool();  // outlives tensors freed at exit
  return *pool;
}

void HostPool::Release(void* ctx) {
  auto* block = static_cast<Block*>(ctx);
  if (block->ptr && !Pool().Keep(*block)) c10::free_cpu(block->ptr);
  delete block;
}

}  // namespace

at::Tensor EmptyFromPool(at::IntArrayRef sizes, at::ScalarType dtype) {
  return at::detail::empty_generic(sizes, &Pool(), c10::DispatchKeySet(c10::DispatchKey::CPU), dtype, std::nullopt);
}

void EmptyPoolCache() { Pool().Empty(); }

}  // namespace lazyplus
