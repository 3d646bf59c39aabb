#include "device/generator.h"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>
#include <vector>

#include "device/device.h"

namespace lazyplus {

GeneratorImpl::GeneratorImpl(c10::DeviceIndex device)
    : c10::GeneratorImpl(c10::Device(c10::DeviceType::PrivateUse1, device),
                         c10::DispatchKeySet(c10::DispatchKey::PrivateUse1)),
      host_(at::make_generator<at::CPUGeneratorImpl>(c10::detail::getNonDeterministicRandom())) {}

void GeneratorImpl::set_current_seed(uint64_t seed) { host_.set_current_seed(seed); }
void GeneratorImpl::set_offset(uint64_t offset) { host_.set_offset(offset); }
uint64_t GeneratorImpl::get_offset() const { return host_.get_offset(); }
uint64_t GeneratorImpl::current_seed() const { return host_.current_seed(); }
uint64_t GeneratorImpl::seed() { return host_.seed(); }
void GeneratorImpl::set_state(const c10::TensorImpl& state) { host_.unsafeGetGeneratorImpl()->set_state(state); }
c10::intrusive_ptr<c10::TensorImpl> GeneratorImpl::get_state() const {
  return host_.unsafeGetGeneratorImpl()->get_state();
}
c10::DeviceType GeneratorImpl::device_type() { return c10::DeviceType::PrivateUse1; }

GeneratorImpl* GeneratorImpl::clone_impl() const {
  auto* copy = new GeneratorImpl(device().index());
  copy->host_ = host_.clone();
  return copy;
}

const at::Generator& DefaultGenerator(c10::DeviceIndex device) {
  static std::vector<at::Generator> defaults = [] {
    std::vector<at::Generator> gens;
    for (c10::DeviceIndex i = 0; i < DeviceCount(); ++i) gens.push_back(at::make_generator<GeneratorImpl>(i));
    return gens;
  }();
  return defaults[CheckedDeviceIndex(device)];
}

at::Generator NewGenerator(c10::DeviceIndex device) {
  return at::make_generator<GeneratorImpl>(CheckedDeviceIndex(device));
}

at::Generator HostGenerator(const std::optional<at::Generator>& gen, c10::DeviceIndex device) {
  const at::Generator& g = gen.has_value() && gen->defined() ? *gen : DefaultGenerator(device);
  if (g.device().type() == c10::DeviceType::CPU) return g;
  TORCH_CHECK(g.device().type() == c10::DeviceType::PrivateUse1,
              "Expected a 'lazyplus' device type for generator but found '", g.device().type(), "'");
  return static_cast<GeneratorImpl*>(g.unsafeGetGeneratorImpl())->host();
}

}  // namespace lazyplus
