#include "backend/cuda/kernel_cache.h"

#include <c10/util/Exception.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "backend/cuda/nvrtc.h"
#include "support/metrics.h"

namespace lazyplus {
namespace {

std::mutex mutex;
std::map<std::pair<std::string, int>, std::shared_ptr<const std::string>>& Memory() {
  static std::map<std::pair<std::string, int>, std::shared_ptr<const std::string>> memory;
  return memory;
}

void MakeFolders(const std::string& path) {
  for (size_t at = path.find('/', 1); ; at = path.find('/', at + 1)) {
    mkdir(path.substr(0, at).c_str(), 0755);  // exists already: fine
    if (at == std::string::npos) return;
  }
}

std::string FileOf(const CudaSource& source, int arch) {
  auto [major, minor] = NvrtcVersion();
  return KernelCacheFolder() + "/" + source.name + "_sm" + std::to_string(arch) + "_nvrtc" + std::to_string(major) +
         "." + std::to_string(minor) + ".cubin";
}

std::shared_ptr<const std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return nullptr;
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return std::make_shared<const std::string>(bytes.str());
}

// Written under a name of its own, then renamed over the final name (atomic on one file system).
void WriteFile(const std::string& path, const std::string& bytes) {
  MakeFolders(path.substr(0, path.rfind('/')));
  std::string temporary = path + ".tmp" + std::to_string(getpid());
  {
    std::ofstream out(temporary, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) return;  // an unwritable cache only costs compiles
  }
  std::rename(temporary.c_str(), path.c_str());
}

}  // namespace

std::string KernelCacheFolder() {
  if (const char* folder = std::getenv("LAZYPLUS_KERNEL_CACHE")) return folder;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME")) return std::string(xdg) + "/lazyplus/kernels";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.cache/lazyplus/kernels";
}

std::shared_ptr<const std::string> CubinFor(const CudaSource& source, int arch, const std::string& region) {
  static auto* compiles = metrics::GetCounter("CudaKernelCompiles");
  static auto* disk_hits = metrics::GetCounter("CudaKernelDiskHits");
  std::lock_guard<std::mutex> lock(mutex);  // one compile of a source, whoever asks first
  auto& cubin = Memory()[{source.name, arch}];
  if (cubin) return cubin;
  std::string path = FileOf(source, arch);
  if ((cubin = ReadFile(path))) {
    disk_hits->Add();
    return cubin;
  }
  CompiledKernel compiled = CompileCuda(source.text, source.name, arch);
  TORCH_CHECK(compiled.ok, "lazyplus: the CUDA kernel of the fused region ", region, " does not compile for sm_",
              arch, " (", source.name, "); NVRTC says:\n", compiled.log);
  compiles->Add();
  cubin = std::make_shared<const std::string>(std::move(compiled.binary));
  WriteFile(path, *cubin);
  return cubin;
}

void ClearKernelMemoryCache() {
  std::lock_guard<std::mutex> lock(mutex);
  Memory().clear();
}

}  // namespace lazyplus
