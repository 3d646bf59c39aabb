// Profiler hooks (torch.profiler with ProfilerActivity.PrivateUse1, or use_device="lazyplus"). As for
// the device guard's events, a profiler event holds the host time it was recorded at: an op's device
// time is the time its call took, which for a lazy op is its recording. Execution shows as the
// `lazyplus::fused_region` and ATen ranges that a sync runs.
#include <c10/util/ApproximateClock.h>
#include <torch/csrc/profiler/stubs/base.h>

#include <chrono>

#include "device/device.h"

namespace lazyplus {
namespace {

using torch::profiler::impl::ProfilerVoidEventStub;
using Clock = std::chrono::steady_clock;

struct ProfilerHooks final : torch::profiler::impl::ProfilerStubs {
  void record(c10::DeviceIndex* device, ProfilerVoidEventStub* event, int64_t* cpu_ns) const override {
    if (device) *device = CurrentDevice();
    *event = std::make_shared<Clock::time_point>(Clock::now());
    if (cpu_ns) *cpu_ns = c10::getTime();
  }
  // In microseconds, as the CUDA hooks report.
  float elapsed(const ProfilerVoidEventStub* start, const ProfilerVoidEventStub* end) const override {
    auto elapsed = *static_cast<Clock::time_point*>(end->get()) - *static_cast<Clock::time_point*>(start->get());
    return std::chrono::duration<float, std::micro>(elapsed).count();
  }
  void mark(const char*) const override {}
  void rangePush(const char*) const override {}
  void rangePop() const override {}
  bool enabled() const override { return true; }
  void onEachDevice(std::function<void(int)> op) const override {
    const c10::DeviceIndex current = CurrentDevice();
    for (c10::DeviceIndex i = 0; i < DeviceCount(); ++i) {
      SetCurrentDevice(i);
      op(i);
    }
    SetCurrentDevice(current);
  }
  void synchronize() const override {}  // profiled, a launch returns after its program ran (cpu_backend.cpp)
};

const bool profiler_hooks_registered = [] {
  static ProfilerHooks hooks;
  torch::profiler::impl::registerPrivateUse1Methods(&hooks);
  return true;
}();

}  // namespace
}  // namespace lazyplus
