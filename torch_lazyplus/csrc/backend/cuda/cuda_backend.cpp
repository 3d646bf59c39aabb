#include "backend/cuda/cuda_backend.h"

#include <ATen/Context.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/empty.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>

#include "backend/cuda/cuda_lowering.h"
#include "backend/step_program.h"
#include "support/metrics.h"

namespace lazyplus {
namespace {

class CudaBackend final : public Backend {
 public:
  CudaBackend(c10::Device device, c10::Device memory) : device_(device), memory_(memory) {}
  std::string name() const override { return "cuda"; }
  BufferPtr Allocate(size_t nbytes) const override {
    return std::make_shared<Buffer>(device_, at::empty({static_cast<int64_t>(nbytes)}, Bytes()));
  }
  BufferPtr Upload(at::Tensor host) const override {
    return std::make_shared<Buffer>(device_, on_gpu() ? host.to(memory_) : host.clone());
  }
  at::Tensor Download(const Buffer& buffer, at::ScalarType dtype, int64_t first, int64_t count) const override {
    static auto* downloaded = metrics::GetCounter("DownloadedBytes");
    at::Tensor part = buffer.MemoryAs(dtype).narrow(0, first, count);
    downloaded->Add(static_cast<int64_t>(part.nbytes()));
    return on_gpu() ? part.cpu() : part.clone();
  }
  const Lowering& lowering() const override { return CudaLowering(); }

  Launched Launch(std::shared_ptr<const Program> program, std::shared_ptr<const Graph> graph,
                  std::vector<BufferPtr> inputs, std::vector<bool> donatable) const override {
    Launched launched = PendingLaunch(*graph, device_);
    auto steps = std::static_pointer_cast<const StepProgram>(std::move(program));
    RunAndFill(*steps, *graph, memory_, inputs, donatable, launched.outputs);
    launched.done->Set();  // queued: whoever reads the memory on the host waits for the stream
    return launched;
  }

  void Synchronize() const override {
    if (on_gpu()) c10::impl::getDeviceGuardImpl(c10::kCUDA)->synchronizeDevice(memory_.index());
  }

 private:
  bool on_gpu() const { return memory_.is_cuda(); }
  at::TensorOptions Bytes() const { return at::TensorOptions(at::kByte).device(memory_); }
  c10::Device device_;
  c10::Device memory_;
};

}  // namespace

std::unique_ptr<Backend> MakeCudaBackend(c10::Device device, c10::Device memory) {
  return std::make_unique<CudaBackend>(device, memory);
}

bool CudaTargetAvailable() {
  auto op = c10::Dispatcher::singleton().findSchema({"lazyplus::run_cuda_region", ""});
  return at::globalContext().hasCUDA() && op && op->hasKernelForDispatchKey(c10::DispatchKey::CUDA);
}

}  // namespace lazyplus
