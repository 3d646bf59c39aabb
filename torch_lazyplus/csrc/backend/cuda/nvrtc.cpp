#include "backend/cuda/nvrtc.h"

#include <c10/util/Exception.h>
#include <dirent.h>
#include <dlfcn.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

namespace lazyplus {
namespace {

// NVRTC's entry points, declared here (nvrtc.h is not needed to build).
using nvrtcProgram = struct _nvrtcProgram*;
using nvrtcResult = int;
struct NvrtcApi {
  nvrtcResult (*version)(int*, int*);
  nvrtcResult (*create)(nvrtcProgram*, const char*, const char*, int, const char* const*, const char* const*);
  nvrtcResult (*destroy)(nvrtcProgram*);
  nvrtcResult (*compile)(nvrtcProgram, int, const char* const*);
  nvrtcResult (*log_size)(nvrtcProgram, size_t*);
  nvrtcResult (*log)(nvrtcProgram, char*);
  nvrtcResult (*cubin_size)(nvrtcProgram, size_t*);
  nvrtcResult (*cubin)(nvrtcProgram, char*);
  const char* (*error_string)(nvrtcResult);
};

std::mutex folder_mutex;
std::string& Folder() {
  static std::string folder;
  return folder;
}

// libnvrtc opened by path loads its builtins library by soname, which no RUNPATH finds: load it
// first, from the same folder.
void* OpenInFolder(const std::string& folder, std::string& tried) {
  if (DIR* dir = opendir(folder.c_str())) {
    while (dirent* e = readdir(dir)) {
      if (std::string(e->d_name).rfind("libnvrtc-builtins.so.", 0) == 0) {
        dlopen((folder + "/" + e->d_name).c_str(), RTLD_NOW | RTLD_GLOBAL);
      }
    }
    closedir(dir);
  }
  std::string path = folder + "/libnvrtc.so.13";
  tried += ", " + path;
  return dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
}

void* OpenNvrtc(std::string& tried) {
  tried = "libnvrtc.so.13";
  if (void* h = dlopen("libnvrtc.so.13", RTLD_NOW | RTLD_GLOBAL)) return h;
  if (const char* env = std::getenv("LAZYPLUS_NVRTC")) {
    std::string path(env);
    tried += ", " + path;
    if (void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL)) return h;
    if (void* h = OpenInFolder(path, tried)) return h;
  }
  std::lock_guard<std::mutex> lock(folder_mutex);
  return Folder().empty() ? nullptr : OpenInFolder(Folder(), tried);
}

template <typename F>
void Bind(void* lib, const char* symbol, F& f) {
  f = reinterpret_cast<F>(dlsym(lib, symbol));
  TORCH_CHECK(f, "lazyplus: NVRTC lacks ", symbol);
}

// The API, or null with `why` set. Loading is retried until it succeeds (a folder may be set later).
const NvrtcApi* Api(std::string* why) {
  static std::mutex mutex;
  static std::unique_ptr<NvrtcApi> api;
  std::lock_guard<std::mutex> lock(mutex);
  if (api) return api.get();
  std::string tried;
  void* lib = OpenNvrtc(tried);
  if (!lib) {
    if (why) *why = "lazyplus: NVRTC could not be loaded (tried " + tried + ")";
    return nullptr;
  }
  auto loaded = std::make_unique<NvrtcApi>();
  Bind(lib, "nvrtcVersion", loaded->version);
  Bind(lib, "nvrtcCreateProgram", loaded->create);
  Bind(lib, "nvrtcDestroyProgram", loaded->destroy);
  Bind(lib, "nvrtcCompileProgram", loaded->compile);
  Bind(lib, "nvrtcGetProgramLogSize", loaded->log_size);
  Bind(lib, "nvrtcGetProgramLog", loaded->log);
  Bind(lib, "nvrtcGetCUBINSize", loaded->cubin_size);
  Bind(lib, "nvrtcGetCUBIN", loaded->cubin);
  Bind(lib, "nvrtcGetErrorString", loaded->error_string);
  api = std::move(loaded);
  return api.get();
}

const NvrtcApi& RequireApi() {
  std::string why;
  const NvrtcApi* api = Api(&why);
  TORCH_CHECK(api, why);
  return *api;
}

void Check(const NvrtcApi& api, nvrtcResult r, const char* what) {
  TORCH_CHECK(r == 0, "lazyplus: ", what, " failed: ", api.error_string(r));
}

}  // namespace

void SetNvrtcFolder(const std::string& folder) {
  std::lock_guard<std::mutex> lock(folder_mutex);
  Folder() = folder;
}

bool NvrtcAvailable(std::string* why) { return Api(why) != nullptr; }

std::pair<int, int> NvrtcVersion() {
  const NvrtcApi& api = RequireApi();
  int major = 0, minor = 0;
  Check(api, api.version(&major, &minor), "nvrtcVersion");
  return {major, minor};
}

CompiledKernel CompileCuda(const std::string& source, const std::string& name, int arch) {
  const NvrtcApi& api = RequireApi();
  nvrtcProgram program = nullptr;
  Check(api, api.create(&program, source.c_str(), (name + ".cu").c_str(), 0, nullptr, nullptr), "nvrtcCreateProgram");
  std::string gpu = "--gpu-architecture=sm_" + std::to_string(arch);
  // No fast math: eager's kernels round as IEEE does (fused multiply-adds aside, as nvcc's default).
  std::vector<const char*> options{"--std=c++17", gpu.c_str(), "-default-device", "-DNDEBUG", "--ptxas-options=-v"};
  nvrtcResult compiled = api.compile(program, static_cast<int>(options.size()), options.data());
  CompiledKernel out{compiled == 0, {}, {}};
  size_t size = 0;
  api.log_size(program, &size);
  out.log.resize(size);
  api.log(program, out.log.data());
  while (!out.log.empty() && out.log.back() == '\0') out.log.pop_back();
  if (out.ok) {
    api.cubin_size(program, &size);
    out.binary.resize(size);
    api.cubin(program, out.binary.data());
  }
  api.destroy(&program);
  return out;
}

}  // namespace lazyplus
