#include "backend/cuda/gpu/region_launch.h"

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include <array>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>

#include "backend/cuda/kernel_cache.h"
#include "backend/cuda/launch_config.h"

namespace lazyplus {
namespace {

// A module holds a region's kernels for every device of its architecture (the runtime loads a
// library into each context that launches it). Modules stay loaded for the process.
struct Module {
  cudaLibrary_t library = nullptr;
  std::vector<cudaKernel_t> kernels;  // as CudaSource::kernels
};

const Module& ModuleFor(const CudaSource& source, int arch, const std::string& region) {
  static std::mutex mutex;
  static std::map<std::pair<std::string, int>, Module> modules;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = modules.find({source.name, arch});
  if (it != modules.end()) return it->second;
  auto cubin = CubinFor(source, arch, region);
  Module module;
  C10_CUDA_CHECK(cudaLibraryLoadData(&module.library, cubin->data(), nullptr, nullptr, 0, nullptr, nullptr, 0));
  for (const auto& name : source.kernels) {
    cudaKernel_t kernel = nullptr;
    C10_CUDA_CHECK(cudaLibraryGetKernel(&kernel, module.library, name.c_str()));
    module.kernels.push_back(kernel);
  }
  return modules.emplace(std::make_pair(source.name, arch), std::move(module)).first->second;
}

struct DeviceFacts {
  int arch;  // compute capability: 90 for sm_90
  int multiprocessors;
};

const DeviceFacts& FactsOf(c10::DeviceIndex device) {
  static std::mutex mutex;
  static std::map<c10::DeviceIndex, DeviceFacts> facts;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = facts.find(device);
  if (it != facts.end()) return it->second;
  int major = 0, minor = 0, sms = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return facts.emplace(device, DeviceFacts{major * 10 + minor, sms}).first->second;
}

// The CUDA lowering's regions start compiling for the current device as soon as they are compiled.
const bool prefetching = [] {
  SetKernelPrefetcher([](const CudaSource& source, const std::string& region) {
    CompileInBackground(source, region, FactsOf(c10::cuda::current_device()).arch);
  });
  return true;
}();

}  // namespace

void LaunchRegion(const RegionLaunch& launch, const std::vector<at::Tensor>& inputs,
                  const std::vector<at::Tensor>& outputs) {
  const auto& by_value = launch.source.by_value;
  TORCH_CHECK(by_value.empty() || by_value.size() == inputs.size(), "lazyplus: the region has ", by_value.size(),
              " inputs, given ", inputs.size());
  const int64_t n = launch.rows * launch.cols;
  // Kernel arguments: rows, cols, then per buffer its address, per host number its bytes.
  std::vector<std::array<char, 16>> values(inputs.size() + outputs.size() + 2);
  int64_t rows = launch.rows, cols = launch.cols;
  std::vector<void*> args{&rows, &cols};
  std::optional<c10::Device> device;
  bool aligned = true;  // for the vector loads of full-size buffers
  for (size_t i = 0; i < inputs.size() + outputs.size(); ++i) {
    const at::Tensor& t = i < inputs.size() ? inputs[i] : outputs[i - inputs.size()];
    auto& slot = values[i];
    if (i < by_value.size() && by_value[i]) {
      TORCH_CHECK(!t.is_cuda() && t.numel() == 1, "lazyplus: a region's host number is a one-element CPU tensor");
      std::memcpy(slot.data(), t.const_data_ptr(), t.element_size());
      args.push_back(slot.data());
      continue;
    }
    TORCH_CHECK(t.is_cuda() && t.is_contiguous() && (!device || t.device() == *device),
                "lazyplus: a region's kernel takes contiguous CUDA tensors on one device, got ", t.device());
    device = t.device();
    void* address = t.data_ptr();
    std::memcpy(slot.data(), &address, sizeof(address));
    args.push_back(slot.data());
    if (t.numel() == n) aligned = aligned && reinterpret_cast<uintptr_t>(address) % (4 * t.element_size()) == 0;
  }
  TORCH_CHECK(device, "lazyplus: a region without device buffers");
  if (n == 0) return;
  c10::cuda::CUDAGuard guard(*device);
  const DeviceFacts& facts = FactsOf(device->index());
  LaunchConfig config = ConfigureLaunch(launch.whole_rows, launch.rows, launch.cols, aligned, facts.multiprocessors);
  const Module& module = ModuleFor(launch.source, facts.arch, launch.region);
  C10_CUDA_CHECK(cudaLaunchKernel(reinterpret_cast<const void*>(module.kernels.at(config.variant)),
                                  dim3(static_cast<unsigned>(config.blocks)), dim3(config.threads), args.data(), 0,
                                  c10::cuda::getCurrentCUDAStream()));
}

}  // namespace lazyplus
