#pragma once
// Counters named as torch._lazy.metrics names them: lazy::<op> per traced op, aten::<op> per CPU
// fallback, CachedCompile / UncachedCompile, plus Sync and Sync::<reason>.
#include <atomic>
#include <cstdint>
#include <map>
#include <string>

namespace lazyplus::metrics {

struct Counter {
  std::atomic<int64_t> value{0};
  void Add(int64_t n = 1) { value.fetch_add(n, std::memory_order_relaxed); }
};

// A counter that lives for the whole process; cache the pointer at hot call sites.
Counter* GetCounter(const std::string& name);
std::map<std::string, int64_t> Snapshot();
void Reset();

}  // namespace lazyplus::metrics
