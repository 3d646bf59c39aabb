#include "device/allocator.h"

#include <ATen/EmptyTensor.h>
#include <sys/mman.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <unordered_set>

#include "device/blocks_by_size.h"
#include "device/device.h"
#include "device/host_pool.h"
#include "support/metrics.h"

namespace lazyplus {
namespace {

using c10::CachingDeviceAllocator::DeviceStats;

std::mutex stats_mutex;
std::vector<DeviceStats>& Stats() {
  static std::vector<DeviceStats> stats(DeviceCount());
  return stats;
}

void Account(c10::DeviceIndex device, size_t bytes, bool allocate) {
  std::lock_guard<std::mutex> lock(stats_mutex);
  auto& s = Stats()[device];
  for (auto* arr : {&s.allocated_bytes, &s.reserved_bytes, &s.active_bytes, &s.requested_bytes}) {
    auto& stat = (*arr)[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)];
    allocate ? stat.increase(bytes) : stat.decrease(bytes);
  }
  auto& count = s.allocation[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)];
  allocate ? count.increase(1) : count.decrease(1);
}

// Bytes counted in the device's memory statistics for as long as this lives.
struct Counted {
  Counted(c10::DeviceIndex device, size_t bytes) : device(device), bytes(bytes) { Account(device, bytes, true); }
  ~Counted() { Account(device, bytes, false); }
  c10::DeviceIndex device;
  size_t bytes;
};

struct HeldBuffer {
  explicit HeldBuffer(BufferPtr b) : buffer(std::move(b)), counted(buffer->device().index(), buffer->nbytes()) {}
  BufferPtr buffer;
  Counted counted;
};

void DeleteBuffer(void* ctx) { delete static_cast<HeldBuffer*>(ctx); }

struct LazyplusAllocator final : c10::DeviceAllocator {
  c10::DataPtr allocate(size_t nbytes) override { return AllocateOn(nbytes, MakeDevice()); }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
  bool initialized() override { return true; }
  void emptyCache(c10::MempoolId_t) override { EmptyPoolCache(); }
  void recordStream(const c10::DataPtr&, c10::Stream) override {}
  DeviceStats getDeviceStats(c10::DeviceIndex device) override {
    std::lock_guard<std::mutex> lock(stats_mutex);
    return Stats()[CheckedDeviceIndex(device)];
  }
  void resetAccumulatedStats(c10::DeviceIndex device) override {
    std::lock_guard<std::mutex> lock(stats_mutex);
    auto& s = Stats()[CheckedDeviceIndex(device)];
    for (auto* arr : {&s.allocated_bytes, &s.reserved_bytes, &s.active_bytes, &s.requested_bytes, &s.allocation})
      for (auto& stat : *arr) stat.reset_accumulated();
  }
  void resetPeakStats(c10::DeviceIndex device) override {
    std::lock_guard<std::mutex> lock(stats_mutex);
    auto& s = Stats()[CheckedDeviceIndex(device)];
    for (auto* arr : {&s.allocated_bytes, &s.reserved_bytes, &s.active_bytes, &s.requested_bytes, &s.allocation})
      for (auto& stat : *arr) stat.reset_peak();
  }
};

LazyplusAllocator device_allocator;
REGISTER_ALLOCATOR(c10::DeviceType::PrivateUse1, &device_allocator);

std::mutex pinned_mutex;
std::unordered_set<const void*> pinned;

void FreePinned(void* ptr) {
  {
    std::lock_guard<std::mutex> lock(pinned_mutex);
    pinned.erase(ptr);
  }
  c10::free_cpu(ptr);
}

struct PinnedHostAllocator final : c10::Allocator {
  c10::DataPtr allocate(size_t nbytes) override {
    void* ptr = nbytes ? c10::alloc_cpu(nbytes) : nullptr;
    if (ptr) {
      std::lock_guard<std::mutex> lock(pinned_mutex);
      pinned.insert(ptr);
    }
    return {ptr, ptr, &FreePinned, c10::Device(c10::kCPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &FreePinned; }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
};

PinnedHostAllocator pinned_allocator;

// Storage memory: most of it belongs to pending tensors, whose buffers are placeholders that the next
// sync replaces with the computed bytes. Large ones are mapped, so they cost no memory until written;
// taken from the heap they would hold on to chunks that the computed results then cannot reuse.
constexpr size_t kMapBytes = size_t{1} << 18;

struct Mapping {
  void* ptr;
  size_t bytes;
};

void* MapAnonymous(size_t nbytes) {
  void* ptr = mmap(nullptr, nbytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  // torch.OutOfMemoryError, as a CUDA allocation that fails raises.
  TORCH_CHECK_WITH(OutOfMemoryError, ptr != MAP_FAILED, "lazyplus: out of memory: tried to allocate ", nbytes,
                   " bytes");
  return ptr;
}

void Unmap(void* ctx) {
  auto* m = static_cast<Mapping*>(ctx);
  munmap(m->ptr, m->bytes);
  delete m;
}

struct StorageMemory final : c10::Allocator {
  c10::DataPtr allocate(size_t nbytes) override {
    if (nbytes < kMapBytes) {
      void* ptr = nbytes ? c10::alloc_cpu(nbytes) : nullptr;
      return {ptr, ptr, &c10::free_cpu, c10::Device(c10::kCPU)};
    }
    void* ptr = MapAnonymous(nbytes);
    return {ptr, new Mapping{ptr, nbytes}, &Unmap, c10::Device(c10::kCPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
};

StorageMemory storage_memory;

// The mapped ranges of freed large placeholders, kept by size for the next placeholders of that size:
// nothing writes a placeholder, so a kept range holds no memory. Mapping and unmapping one for every
// recorded op (12 a step of the README demo's GPT, 64 of the ResNet-style CNN) made their steps 4 %
// and 1-2 % slower (2-core EPYC Zen 4, in-process A/B). Up to 64 GiB of address space is kept.
class PlaceholderRanges {
 public:
  c10::DataPtr Take(size_t nbytes) {
    void* ptr = kept_.Take(nbytes);
    if (!ptr) {
      static auto* maps = metrics::GetCounter("PlaceholderMaps");
      ptr = MapAnonymous(nbytes);
      maps->Add();
    }
    return {ptr, new Mapping{ptr, nbytes}, &GiveBack, c10::Device(c10::kCPU)};
  }

 private:
  static void GiveBack(void* ctx);

  BlocksBySize kept_{size_t{64} << 30};
};

PlaceholderRanges& Ranges() {
  static auto* ranges = new PlaceholderRanges();  // outlives placeholders freed at exit
  return *ranges;
}

void PlaceholderRanges::GiveBack(void* ctx) {
  auto* m = static_cast<Mapping*>(ctx);
  if (!Ranges().kept_.Keep(m->ptr, m->bytes)) return Unmap(m);
  delete m;
}

BufferSource buffer_source = nullptr;

// The memory of a storage whose contents are pending, which the next sync replaces. Recording makes
// one per op, so it is raw memory (unique addresses for data_ptr() users, counted in the statistics)
// without the CPU tensor a buffer has. A small one is a single malloc'ed block holding this header,
// 64-byte aligned, and then the bytes: posix_memalign (c10::alloc_cpu) cost 9 % of recording an add.
struct Placeholder {
  Placeholder(size_t nbytes, c10::DeviceIndex device, void* block) : counted(device, nbytes), block(block) {}
  Counted counted;
  void* block;          // the block this header and the bytes live in, or null
  c10::DataPtr memory;  // when the bytes are not in the block
};
constexpr size_t kAlignment = 64;  // c10::alloc_cpu's
constexpr size_t kHeaderBytes = kAlignment;
static_assert(sizeof(Placeholder) <= kHeaderBytes);

void DeletePlaceholder(void* ctx) {
  auto* placeholder = static_cast<Placeholder*>(ctx);
  void* block = placeholder->block;
  if (!block) return delete placeholder;
  placeholder->~Placeholder();
  std::free(block);
}

}  // namespace

c10::DataPtr AllocatePlaceholder(size_t nbytes, c10::Device device) {
  if (nbytes == 0 || nbytes >= kMapBytes) {
    // first: a failed allocation counts nothing
    c10::DataPtr memory = nbytes ? Ranges().Take(nbytes) : storage_memory.allocate(0);
    auto* placeholder = new Placeholder(nbytes, device.index(), nullptr);
    placeholder->memory = std::move(memory);
    return {placeholder->memory.get(), placeholder, &DeletePlaceholder, device};
  }
  void* block = std::malloc(kAlignment - 1 + kHeaderBytes + nbytes);
  TORCH_CHECK_WITH(OutOfMemoryError, block, "lazyplus: out of memory: tried to allocate ", nbytes, " bytes");
  auto aligned = (reinterpret_cast<uintptr_t>(block) + kAlignment - 1) / kAlignment * kAlignment;
  auto* placeholder = new (reinterpret_cast<void*>(aligned)) Placeholder(nbytes, device.index(), block);
  return {reinterpret_cast<char*>(aligned) + kHeaderBytes, placeholder, &DeletePlaceholder, device};
}

bool IsPlaceholder(const c10::DataPtr& ptr) { return ptr.get_deleter() == &DeletePlaceholder; }

BufferPtr AllocateBuffer(size_t nbytes, c10::Device device) {
  at::Tensor memory = at::detail::empty_generic({static_cast<int64_t>(nbytes)}, &storage_memory,
                                                c10::DispatchKeySet(c10::DispatchKey::CPU), at::kByte, std::nullopt);
  return std::make_shared<Buffer>(device, std::move(memory));
}

void SetBufferSource(BufferSource source) { buffer_source = source; }

c10::DataPtr AllocateOn(size_t nbytes, c10::Device device) {
  TORCH_INTERNAL_ASSERT(buffer_source, "lazyplus: no buffer source registered");
  return MakeDataPtr(buffer_source(nbytes, device));
}

c10::DataPtr MakeDataPtr(BufferPtr buffer) {
  void* data = buffer->memory().data_ptr();
  c10::Device device = buffer->device();
  return {data, new HeldBuffer(std::move(buffer)), &DeleteBuffer, device};
}

BufferPtr BufferOf(const c10::DataPtr& ptr) {
  if (ptr.get_deleter() != &DeleteBuffer) return nullptr;
  return static_cast<HeldBuffer*>(ptr.get_context())->buffer;
}

c10::DeviceAllocator* DeviceAllocator() { return &device_allocator; }
c10::Allocator* PinnedAllocator() { return &pinned_allocator; }

bool IsPinned(const void* ptr) {
  std::lock_guard<std::mutex> lock(pinned_mutex);
  return pinned.count(ptr) > 0;
}

}  // namespace lazyplus
