#include "support/metrics.h"

#include <chrono>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace lazyplus::metrics {
namespace {

std::mutex mutex;
std::unordered_map<std::string, std::unique_ptr<Counter>>& Counters() {
  static auto* counters = new std::unordered_map<std::string, std::unique_ptr<Counter>>();
  return *counters;
}

}  // namespace

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
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
