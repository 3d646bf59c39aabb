#include "support/metrics.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

namespace lazyplus::metrics {
namespace {

std::mutex mutex;
std::unordered_map<std::string, std::unique_ptr<Counter>>& Counters() {
  static auto* counters = new std::unordered_map<std::string, std::unique_ptr<Counter>>();
  return *counters;
}

int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

#if defined(__x86_64__)
// The time-stamp counter, where it is invariant (constant rate, not stopped in sleep states), scaled by
// a rate measured once against steady_clock over 200 µs (to ~0.05 %): recording reads the clock twice
// per op, and rdtsc costs half of clock_gettime's vDSO call (22 against 49 TSC ticks, Xeon VM).
struct TscClock {
  bool usable = false;
  uint64_t tsc0 = 0;
  int64_t ns0 = 0;
  double ns_per_tick = 0;
};

TscClock Calibrate() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(0x80000007, &eax, &ebx, &ecx, &edx) || !(edx & (1u << 8))) return {};
  TscClock clock;
  clock.ns0 = SteadyNs();
  clock.tsc0 = __rdtsc();
  int64_t ns = clock.ns0;
  while (ns - clock.ns0 < 200000) ns = SteadyNs();
  const uint64_t ticks = __rdtsc() - clock.tsc0;
  if (ticks == 0) return {};
  clock.ns_per_tick = static_cast<double>(ns - clock.ns0) / static_cast<double>(ticks);
  clock.usable = true;
  return clock;
}
#endif

}  // namespace

int64_t NowNs() {
#if defined(__x86_64__)
  static const TscClock tsc = Calibrate();
  if (tsc.usable) return tsc.ns0 + static_cast<int64_t>(static_cast<double>(__rdtsc() - tsc.tsc0) * tsc.ns_per_tick);
#endif
  return SteadyNs();
}

Counter* GetCounter(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = Counters()[name];
  if (!slot) slot = std::make_unique<Counter>();
  return slot.get();
}

std::map<std::string, int64_t> Snapshot() {
  std::lock_guard<std::mutex> lock(mutex);
  std::map<std::string, int64_t> out;
  for (const auto& [name, counter] : Counters()) {
    int64_t v = counter->value.load(std::memory_order_relaxed);
    if (v != 0) out[name] = v;
  }
  return out;
}

void Reset() {
  std::lock_guard<std::mutex> lock(mutex);
  for (auto& [name, counter] : Counters()) counter->value.store(0);
}

}  // namespace lazyplus::metrics
