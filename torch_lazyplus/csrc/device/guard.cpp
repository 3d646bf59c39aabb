// Device guard: lets PyTorch switch the current lazyplus device. A lazy device has one stream per
// device and runs work at sync points, on the calling thread: when a call returns, nothing is in
// flight, so every stream and event is complete. An event holds the host time it was recorded at,
// so elapsed_time measures what ran between two records (syncs included).
#include <c10/core/impl/DeviceGuardImplInterface.h>

#include <chrono>
#if __has_include(<c10/core/DeviceCapability.h>)
#include <c10/core/DeviceCapability.h>
#endif

#include "device/device.h"

namespace lazyplus {
namespace {

struct GuardImpl final : c10::impl::DeviceGuardImplInterface {
  c10::DeviceType type() const override { return kLazyplus; }
  c10::Device exchangeDevice(c10::Device d) const override {
    auto old = getDevice();
    if (d.index() != old.index()) SetCurrentDevice(d.index());
    return old;
  }
  c10::Device getDevice() const override { return c10::Device(kLazyplus, CurrentDevice()); }
  void setDevice(c10::Device d) const override { SetCurrentDevice(d.index()); }
  void uncheckedSetDevice(c10::Device d) const noexcept override {
    if (d.index() >= 0 && d.index() < DeviceCount()) SetCurrentDevice(d.index());
  }
  c10::Stream getStream(c10::Device d) const override {
    return c10::Stream(c10::Stream::DEFAULT, d.has_index() ? d : getDevice());
  }
  c10::Stream getNewStream(c10::Device d, int) const override { return getStream(d); }
  c10::Stream exchangeStream(c10::Stream s) const override { return getStream(s.device()); }
  c10::DeviceIndex deviceCount() const noexcept override { return DeviceCount(); }
  void destroyEvent(void* event, const c10::DeviceIndex) const noexcept override {
    delete static_cast<Clock::time_point*>(event);
  }
  void record(void** event, const c10::Stream&, const c10::DeviceIndex, const c10::EventFlag) const override {
    if (!*event) *event = new Clock::time_point();
    *static_cast<Clock::time_point*>(*event) = Clock::now();
  }
  void block(void*, const c10::Stream&) const override {}
  bool queryEvent(void*) const override { return true; }
  bool queryStream(const c10::Stream&) const override { return true; }
  void synchronizeStream(const c10::Stream& s) const override { WaitForDevice(s.device_index()); }
  void synchronizeEvent(void*) const override {}
  void synchronizeDevice(const c10::DeviceIndex d) const override { WaitForDevice(d); }
  void recordDataPtrOnStream(const c10::DataPtr&, const c10::Stream&) const override {}
#if __has_include(<c10/core/DeviceCapability.h>)
  // Every dtype (torch.accelerator.get_device_capability): buffers are host memory. Not marked
  // override, so that this builds against torch versions without the virtual.
  c10::DeviceCapability getDeviceCapability(c10::Device) const { return {}; }
#endif
  double elapsedTime(void* start, void* end, const c10::DeviceIndex) const override {
    TORCH_CHECK(start && end, "lazyplus: both events must be recorded before elapsed_time");
    auto elapsed = *static_cast<Clock::time_point*>(end) - *static_cast<Clock::time_point*>(start);
    return std::chrono::duration<double, std::milli>(elapsed).count();
  }

 private:
  using Clock = std::chrono::steady_clock;
};

C10_REGISTER_GUARD_IMPL(PrivateUse1, GuardImpl);

}  // namespace
}  // namespace lazyplus
