#include "device/host_pool.h"

#include <ATen/EmptyTensor.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <mutex>

#include "device/blocks_by_size.h"

namespace lazyplus {
namespace {

constexpr size_t kMinCachedBytes = size_t{1} << 12;  // glibc's small bins already reuse the last freed
constexpr size_t kMaxCachedBytes = size_t{2} << 30;
// Each block starts with its size, so that a data pointer alone frees it: c10's raw_allocate (oneDNN's
// scratchpads take memory through it) needs the pointer to be its own deleter context. 64 bytes keep
// alloc_cpu's alignment.
constexpr size_t kSizeHeaderBytes = 64;

class HostPool final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t nbytes) override {
    if (nbytes == 0) return {nullptr, nullptr, &Release, c10::Device(c10::kCPU)};
    char* base = static_cast<char*>(Take(nbytes));
    if (!base) base = static_cast<char*>(c10::alloc_cpu(nbytes + kSizeHeaderBytes));
    *reinterpret_cast<size_t*>(base) = nbytes;
    void* ptr = base + kSizeHeaderBytes;
    return {ptr, ptr, &Release, c10::Device(c10::kCPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &Release; }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

  void Empty() {
    free_.Drain([](void* base, size_t) { c10::free_cpu(base); });
  }

 private:
  void* Take(size_t nbytes) { return nbytes < kMinCachedBytes ? nullptr : free_.Take(nbytes); }
  bool Keep(void* base, size_t nbytes) { return nbytes >= kMinCachedBytes && free_.Keep(base, nbytes); }

  static void Release(void* ptr);

  BlocksBySize free_{kMaxCachedBytes};  // block bases
};

HostPool& Pool() {
  static auto* pool = new HostPool();  // outlives tensors freed at exit
  return *pool;
}

void HostPool::Release(void* ptr) {
  if (!ptr) return;
  char* base = static_cast<char*>(ptr) - kSizeHeaderBytes;
  if (!Pool().Keep(base, *reinterpret_cast<size_t*>(base))) c10::free_cpu(base);
}

}  // namespace

at::Tensor EmptyFromPool(at::IntArrayRef sizes, at::ScalarType dtype) {
  return at::detail::empty_generic(sizes, &Pool(), c10::DispatchKeySet(c10::DispatchKey::CPU), dtype, std::nullopt);
}

void EmptyPoolCache() { Pool().Empty(); }

namespace {

// Guards alive, and the allocator the first one replaced. A priority-0 set, as c10 registers its own:
// where something registered a CPU allocator with a higher priority, both sets are no-ops.
struct Replaced {
  std::mutex mutex;
  int guards = 0;
  c10::Allocator* previous = nullptr;
};

Replaced& CpuAllocatorReplaced() {
  static auto* replaced = new Replaced();
  return *replaced;
}

}  // namespace

PoolAsCpuAllocator::PoolAsCpuAllocator() {
  Replaced& r = CpuAllocatorReplaced();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (r.guards++ == 0) {
    r.previous = c10::GetCPUAllocator();
    c10::SetCPUAllocator(&Pool(), /*priority=*/0);
  }
}

PoolAsCpuAllocator::~PoolAsCpuAllocator() {
  Replaced& r = CpuAllocatorReplaced();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (--r.guards == 0) c10::SetCPUAllocator(r.previous, /*priority=*/0);
}

}  // namespace lazyplus
