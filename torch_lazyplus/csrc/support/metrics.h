#pragma once
// Counters named as torch._lazy.metrics names them: lazy::<op> per traced op, aten::<op> per CPU
// fallback, CachedCompile / UncachedCompile, plus Sync and Sync::<reason>. Times are counters of
// nanoseconds: TraceTimeNs (recording ops), CompileTimeNs, ExecuteTimeNs, TransferToDeviceTimeNs,
// TransferFromDeviceTimeNs.
#include <atomic>
#include <cstdint>
#include <map>
#include <string>

namespace lazyplus::metrics {

struct Counter {
  std::atomic<int64_t> value{0};
  void Add(int64_t n = 1) { value.fetch_add(n, std::memory_order_relaxed); }
};

// A monotonic clock for timers, in nanoseconds (read twice per recorded op: see metrics.cpp).
int64_t NowNs();

// Adds the nanoseconds of its lifetime to a counter.
class ScopedTimer {
 public:
  explicit ScopedTimer(Counter* counter) : counter_(counter), start_(NowNs()) {}
  ~ScopedTimer() { counter_->Add(NowNs() - start_); }
  int64_t elapsed() const { return NowNs() - start_; }

 private:
  Counter* counter_;
  int64_t start_;
};

// A counter that lives for the whole process; cache the pointer at hot call sites.
Counter* GetCounter(const std::string& name);
std::map<std::string, int64_t> Snapshot();
void Reset();

}  // namespace lazyplus::metrics
