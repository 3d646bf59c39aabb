#pragma once
// Random numbers on lazyplus come from a host generator owned by the device generator, so
// torch.manual_seed, torch.Generator(device="lazyplus") and get/set_rng_state behave as on CPU.
#include <ATen/core/Generator.h>
#include <c10/core/GeneratorImpl.h>

namespace lazyplus {

class GeneratorImpl final : public c10::GeneratorImpl {
 public:
  explicit GeneratorImpl(c10::DeviceIndex device);
  void set_current_seed(uint64_t seed) override;
  void set_offset(uint64_t offset) override;
  uint64_t get_offset() const override;
  uint64_t current_seed() const override;
  uint64_t seed() override;
  void set_state(const c10::TensorImpl& new_state) override;
  c10::intrusive_ptr<c10::TensorImpl> get_state() const override;
  static c10::DeviceType device_type();
  // The host generator that draws the numbers.
  const at::Generator& host() const { return host_; }

 private:
  GeneratorImpl* clone_impl() const override;
  at::Generator host_;
};

const at::Generator& DefaultGenerator(c10::DeviceIndex device);
at::Generator NewGenerator(c10::DeviceIndex device);
// The host generator behind `gen`, or behind the default generator of `device` when gen is empty.
at::Generator HostGenerator(const std::optional<at::Generator>& gen, c10::DeviceIndex device);

}  // namespace lazyplus
