#pragma once
// NVRTC, CUDA's run-time compiler, opened with dlopen: the build needs no CUDA, and a machine without
// NVRTC fails only when it compiles a kernel. The library is found by its soname (present in a
// process of a CUDA build of torch), then at $LAZYPLUS_NVRTC (the library or its folder), then in
// the folder SetNvrtcFolder names (the nvidia-cuda-nvrtc wheel's, found from Python).
#include <string>
#include <utility>

namespace lazyplus {

struct CompiledKernel {
  bool ok;
  std::string log;     // NVRTC's log, with ptxas's report per kernel (registers, spills)
  std::string binary;  // a cubin for `sm_<arch>`
};

void SetNvrtcFolder(const std::string& folder);
// Whether NVRTC can be loaded; else `why` says what was tried.
bool NvrtcAvailable(std::string* why = nullptr);
// (major, minor) of the loaded NVRTC; raises when it cannot be loaded.
std::pair<int, int> NvrtcVersion();
// Compiles `source` to a cubin for compute capability `arch` (90: sm_90). A compile error is not
// raised: it comes back in `log` with ok false.
CompiledKernel CompileCuda(const std::string& source, const std::string& name, int arch);

}  // namespace lazyplus
