#pragma once
// Compiled region kernels by source and GPU architecture: in memory for the process, and on disk
// across processes. A cold NVRTC compile costs 100-250 ms per region (2-core EPYC); a cubin read
// back from disk costs a file read. The folder is $LAZYPLUS_KERNEL_CACHE, else
// $XDG_CACHE_HOME/lazyplus/kernels, else ~/.cache/lazyplus/kernels; a file is
// <name>_sm<arch>_nvrtc<major>.<minor>.cubin (the name is the source's hash), written to a temporary
// file and renamed, so that processes sharing the folder never read a partial file.
#include <memory>
#include <string>

#include "backend/cuda/cuda_source.h"

namespace lazyplus {

// The cubin of `source` for sm_<arch>. A source that does not compile raises an error naming
// `region` (what the kernel computes, for the user) with NVRTC's log.
std::shared_ptr<const std::string> CubinFor(const CudaSource& source, int arch, const std::string& region);
// Starts CubinFor(source, arch, region) on a background thread (one per core at most), so that a new
// graph's regions compile in parallel while its first launches wait only for their own kernels. An
// error is raised by the CubinFor call of the launch that needs the kernel.
void CompileInBackground(CudaSource source, std::string region, int arch);
// Where the CUDA lowering sends each region it compiles: the GPU part starts its kernel's compile for
// the current device (gpu/region_launch.cpp). Unset without a GPU part: kernels compile at launch.
using KernelPrefetcher = void (*)(const CudaSource& source, const std::string& region);
void SetKernelPrefetcher(KernelPrefetcher prefetcher);
void PrefetchKernel(const CudaSource& source, const std::string& region);
// Forgets the compiled kernels held in memory (the disk cache stays).
void ClearKernelMemoryCache();
std::string KernelCacheFolder();

}  // namespace lazyplus
