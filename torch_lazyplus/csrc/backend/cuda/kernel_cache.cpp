#include "backend/cuda/kernel_cache.h"

#include <c10/util/Exception.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <fstream>
#include <map>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#include "backend/cuda/nvrtc.h"
#include "support/metrics.h"

namespace lazyplus {
namespace {

using Cubin = std::shared_ptr<const std::string>;

// A source's cubin per architecture, or the compile that will give it: whoever asks first compiles
// (outside the lock, so regions compile in parallel), the others wait for that compile. Never
// destroyed: CompileAhead's threads may still be compiling at exit.
std::mutex& Mutex() {
  static auto* mutex = new std::mutex();
  return *mutex;
}
std::map<std::pair<std::string, int>, std::shared_future<Cubin>>& Memory() {
  static auto* memory = new std::map<std::pair<std::string, int>, std::shared_future<Cubin>>();
  return *memory;
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

namespace {

Cubin ReadOrCompile(const CudaSource& source, int arch, const std::string& region) {
  static auto* compiles = metrics::GetCounter("CudaKernelCompiles");
  static auto* disk_hits = metrics::GetCounter("CudaKernelDiskHits");
  std::string path = FileOf(source, arch);
  if (Cubin cubin = ReadFile(path)) {
    disk_hits->Add();
    return cubin;
  }
  CompiledKernel compiled = CompileCuda(source.text, source.name, arch);
  TORCH_CHECK(compiled.ok, "lazyplus: the CUDA kernel of the fused region ", region, " does not compile for sm_",
              arch, " (", source.name, "); NVRTC says:\n", compiled.log);
  compiles->Add();
  auto cubin = std::make_shared<const std::string>(std::move(compiled.binary));
  WriteFile(path, *cubin);
  return cubin;
}

}  // namespace

Cubin CubinFor(const CudaSource& source, int arch, const std::string& region) {
  const std::pair<std::string, int> key{source.name, arch};
  std::promise<Cubin> compiling;
  std::shared_future<Cubin> cubin;
  bool mine;
  {
    std::lock_guard<std::mutex> lock(Mutex());
    auto [it, inserted] = Memory().try_emplace(key);
    if (inserted) it->second = compiling.get_future().share();
    cubin = it->second;
    mine = inserted;
  }
  if (!mine) return cubin.get();
  try {
    compiling.set_value(ReadOrCompile(source, arch, region));
  } catch (...) {
    compiling.set_exception(std::current_exception());  // raised to whoever waits for it
    std::lock_guard<std::mutex> lock(Mutex());
    Memory().erase(key);  // a later call tries again
  }
  return cubin.get();
}

void CompileInBackground(CudaSource source, std::string region, int arch) {
  // Up to one worker per core (NVRTC compiles on the calling thread), started on demand, never joined.
  struct Backlog {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<std::function<void()>> jobs;
    unsigned workers = 0;
  };
  static auto* backlog = new Backlog();
  std::lock_guard<std::mutex> lock(backlog->mutex);
  backlog->jobs.push_back([source = std::move(source), region = std::move(region), arch] {
    try {
      CubinFor(source, arch, region);
    } catch (...) {  // the launch that needs the kernel raises the error
    }
  });
  if (backlog->workers < std::max(1u, std::thread::hardware_concurrency())) {
    ++backlog->workers;
    std::thread([] {
      for (;;) {
        std::unique_lock<std::mutex> wait(backlog->mutex);
        backlog->ready.wait(wait, [] { return !backlog->jobs.empty(); });
        auto job = std::move(backlog->jobs.front());
        backlog->jobs.pop_front();
        wait.unlock();
        job();
      }
    }).detach();
  }
  backlog->ready.notify_one();
}

namespace {
std::atomic<KernelPrefetcher> prefetcher{nullptr};
}  // namespace

void SetKernelPrefetcher(KernelPrefetcher p) { prefetcher = p; }

void PrefetchKernel(const CudaSource& source, const std::string& region) {
  if (KernelPrefetcher p = prefetcher.load()) p(source, region);
}

void ClearKernelMemoryCache() {
  std::lock_guard<std::mutex> lock(Mutex());
  Memory().clear();
}

}  // namespace lazyplus
