#pragma once
// A backend is a target: where values live (Buffers), which lowering compiles graphs for it, and how
// a compiled program is launched. Each lazyplus device has one. A launch returns at once with the
// Buffers its program will fill, so recording the next step overlaps running this one; only reading
// a Buffer's memory waits. A CUDA backend adds a lowering (tile programs rendered to kernels), its
// memory and its launcher; partitioning and tile programs are shared (schedule/).
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "backend/lowering.h"
#include "device/buffer.h"

namespace lazyplus {

struct Launched {
  // One per root of the graph: its value, or the error of the op it depends on, once `done` is set.
  std::vector<BufferPtr> outputs;
  EventPtr done;
};

// A launch's result before its program runs: a Buffer per root of `graph` on `device`, and their event.
Launched PendingLaunch(const Graph& graph, c10::Device device);

class Backend {
 public:
  virtual ~Backend() = default;
  // Identifies the target in compile-cache keys: backends with one name run each other's programs.
  virtual std::string name() const = 0;
  // Uninitialized memory of `nbytes`.
  virtual BufferPtr Allocate(size_t nbytes) const = 0;
  // A buffer holding the elements of `host` (a contiguous 1-d CPU tensor nobody writes afterwards).
  virtual BufferPtr Upload(at::Tensor host) const = 0;
  // Elements [first, first + count) of `buffer`, viewed flat as `dtype`, on the host; waits for them
  // and raises the error that left them uncomputed. Writes to it reach the buffer when the backend
  // computes on the host (the CPU).
  virtual at::Tensor Download(const Buffer& buffer, at::ScalarType dtype, int64_t first, int64_t count) const = 0;
  // The whole buffer, flat in its dtype.
  at::Tensor Download(const Buffer& buffer) const {
    return Download(buffer, buffer.dtype(), 0, buffer.nbytes() / c10::elementSize(buffer.dtype()));
  }
  // The elements a strided view of `buffer` (viewed as `dtype`) reads, on the host in that view: only
  // the span they lie in leaves the device (`x[i].item()` of a large x downloads one element).
  at::Tensor DownloadView(const Buffer& buffer, at::ScalarType dtype, c10::IntArrayRef sizes,
                          c10::IntArrayRef strides, int64_t offset) const;
  // The lowering that compiles graphs for this backend now (read once per sync).
  virtual const Lowering& lowering() const = 0;
  // Runs `program`, compiled by lowering() for a graph with `graph`'s hash, on the graph's
  // parameters: inputs[i] holds parameter i (null: a host number the graph holds). An input marked
  // `donatable` may be overwritten once the program reads it no more. Outputs never share memory
  // with each other or with an input that is not donated.
  virtual Launched Launch(std::shared_ptr<const Program> program, std::shared_ptr<const Graph> graph,
                          std::vector<BufferPtr> inputs, std::vector<bool> donatable) const = 0;
  // Waits until every program launched so far has run.
  virtual void Synchronize() const = 0;
};

// The target every lazyplus device runs on, fixed at first use: LAZYPLUS_TARGET (cpu, cuda, or
// cuda-emulated: the CUDA programs with memory on the host and region kernels run by a CPU kernel of
// run_cuda_region, for tests without a GPU); by default cuda where CudaTargetAvailable, else cpu.
const std::string& Target();
const Backend& BackendFor(c10::DeviceIndex device);
// Whether a launch returns before its program has run (LAZYPLUS_ASYNC, default on).
bool AsyncExecution();
void SetAsyncExecution(bool on);

}  // namespace lazyplus
