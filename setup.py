"""Builds torch_lazyplus's two artifacts, three where torch is a CUDA build:

- liblazyplus.so, the core: device, IR, lowering, runtime, the generated lazy kernels, and the
  torch.ops.lazyplus / torch.classes.lazyplus registrations. It links libtorch only, never Python, so
  `torch.classes.load_library(torch_lazyplus.library_path())` works in any process, and C++ programs
  can link it.
- torch_lazyplus._C, the pybind11 bindings (torch_lazyplus/python), linked against the core.
- liblazyplus_cuda.so (CUDA torch only), what runs the GPU (csrc/backend/cuda/gpu): it links the CUDA
  runtime and torch's CUDA libraries, and the core; torch_lazyplus._cuda loads it.

Code generation (codegen/gen.py) runs first and writes into the build tree. Each layer of csrc/
(device, ir, lowering, ...) compiles as one translation unit that includes its files: they share the
ATen headers that otherwise dominate each file's compile time (measured: the tensor layer's ten files
took 75 s of CPU one by one, 28 s as one unit).
"""
import glob
import os
import subprocess
import sys

from setuptools import Extension, find_packages, setup

# An installed torch_lazyplus is autoloaded by `import torch`; while it is being (re)built its
# extension may be missing, so the build must not autoload it.
os.environ["TORCH_DEVICE_BACKEND_AUTOLOAD"] = "0"
import torch
from torch.utils.cpp_extension import BuildExtension, CppExtension, include_paths, library_paths

ROOT = os.path.dirname(os.path.abspath(__file__))
GEN_DIR = os.path.join(ROOT, "build", "generated")
UNITY_DIR = os.path.join(ROOT, "build", "unity")
CSRC = os.path.join(ROOT, "torch_lazyplus", "csrc")
CORE = "torch_lazyplus.liblazyplus"
CORE_FILE = "liblazyplus.so"
GPU = "torch_lazyplus.liblazyplus_cuda"
# C++20 named, not left to torch: torch 2.13's cpp_extension passes -std=c++20, but 2.11's (the GPU
# machine's) -std=c++17 where an extension names no standard, and the code uses C++20 (std::erase_if).
COMPILE_ARGS = ["-std=c++20", "-O2", "-g0", "-fopenmp", "-Wno-unused-parameter", "-Wno-unknown-pragmas"]
INCLUDE_DIRS = [os.path.join(ROOT, "torch_lazyplus", "csrc"), GEN_DIR]


def generate():
    subprocess.check_call([sys.executable, os.path.join(ROOT, "codegen", "gen.py"), "--out", GEN_DIR])
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(GEN_DIR, "*.cpp")))


def cpp_files(folder):
    return sorted(glob.glob(os.path.join("torch_lazyplus", folder, "**", "*.cpp"), recursive=True))


def links_cuda(path):
    """backend/cuda/gpu/ runs the GPU: it builds into liblazyplus_cuda.so, only with a CUDA torch."""
    return os.path.join("backend", "cuda", "gpu", "") in path


def compiled_alone(path):
    """Per-ISA kernel files (ATen's CPU_CAPABILITY convention) set target pragmas and macros that must
    not leak into other files."""
    with open(path) as f:
        return "#define CPU_CAPABILITY" in f.read()


def write_if_changed(path, text):
    """Keeps the timestamp of an unchanged file, so ninja does not rebuild it."""
    if os.path.exists(path):
        with open(path) as f:
            if f.read() == text:
                return
    with open(path, "w") as f:
        f.write(text)


def core_sources():
    """One unity file per layer of csrc/, plus the files compiled alone."""
    os.makedirs(UNITY_DIR, exist_ok=True)
    sources, layers = [], {}
    for path in cpp_files("csrc"):
        if links_cuda(path):
            continue
        if compiled_alone(path):
            sources.append(path)
            continue
        rel = os.path.relpath(path, CSRC)
        layers.setdefault(rel.split(os.sep)[0], []).append(rel)
    for layer, files in sorted(layers.items()):
        unity = os.path.join(UNITY_DIR, f"{layer}.cpp")
        write_if_changed(unity, "".join(f'#include "{f}"\n' for f in files))
        sources.append(os.path.relpath(unity, ROOT))
    return sources


class Build(BuildExtension):
    """Names the core liblazyplus.so (not a Python module name) and links the bindings against it,
    found next to them at run time ($ORIGIN)."""

    def get_ext_filename(self, name):
        filename = super().get_ext_filename(name)
        module = name.split(".")[-1]  # setuptools passes the last component only
        if module in (CORE.split(".")[-1], GPU.split(".")[-1]):
            filename = os.path.join(os.path.dirname(filename), module + ".so")
        return filename

    def build_extension(self, ext):
        if ext.name != CORE:
            core_dir = os.path.dirname(os.path.abspath(self.get_ext_fullpath(CORE)))
            ext.extra_link_args += [f"-L{core_dir}", f"-l:{CORE_FILE}", "-Wl,-rpath,$ORIGIN"]
        super().build_extension(ext)


core = Extension(
    CORE,
    core_sources() + generate(),
    include_dirs=INCLUDE_DIRS + include_paths(),
    library_dirs=library_paths(),
    libraries=["c10", "torch", "torch_cpu"],  # not torch_python: the core has no Python
    extra_compile_args=COMPILE_ARGS,
    extra_link_args=["-fopenmp", f"-Wl,-soname,{CORE_FILE}", "-Wl,--no-undefined"],
    language="c++",
)
bindings = CppExtension(
    "torch_lazyplus._C",
    cpp_files("python"),
    include_dirs=INCLUDE_DIRS,
    extra_compile_args=COMPILE_ARGS,
)


def cuda_toolkit():
    """(include, lib) folders of the CUDA runtime: the toolkit at CUDA_HOME where it is complete, else the
    nvidia wheels' nvidia/cu13 (nvidia-cuda-runtime comes with CUDA torch; its headers also need
    nvidia-cuda-crt)."""
    import importlib.util
    from torch.utils.cpp_extension import CUDA_HOME
    folders = [os.path.join(CUDA_HOME, "include")] if CUDA_HOME else []
    spec = importlib.util.find_spec("nvidia")
    folders += [os.path.join(root, "cu13", "include") for root in ((spec.submodule_search_locations or []) if spec else [])]
    for include in folders:
        if os.path.exists(os.path.join(include, "crt", "host_config.h")):
            lib = os.path.join(os.path.dirname(include), "lib64")
            return include, lib if os.path.isdir(lib) else os.path.join(os.path.dirname(include), "lib")
    raise RuntimeError("torch is a CUDA build, but no CUDA runtime headers were found: set CUDA_HOME to a CUDA "
                       "13 toolkit, or pip install nvidia-cuda-runtime nvidia-cuda-crt")


def gpu_extension():
    """liblazyplus_cuda.so: the region launcher and its op, loaded by torch_lazyplus._cuda."""
    include, lib = cuda_toolkit()
    return Extension(
        GPU,
        [p for p in cpp_files("csrc") if links_cuda(p)],
        include_dirs=INCLUDE_DIRS + include_paths() + [include],
        library_dirs=library_paths() + [lib],
        libraries=["c10", "torch", "torch_cpu", "c10_cuda", "torch_cuda"],
        extra_compile_args=COMPILE_ARGS,
        extra_link_args=["-l:libcudart.so.13", "-Wl,--no-undefined"],
        language="c++",
    )


setup(
    name="torch_lazyplus",
    version="0.1.0",
    description="A lazy-tensor PrivateUse1 backend for PyTorch",
    packages=find_packages(include=["torch_lazyplus", "torch_lazyplus.*"]),
    ext_modules=[core, bindings] + ([gpu_extension()] if torch.version.cuda else []),
    cmdclass={"build_ext": Build},
    entry_points={"torch.backends": ["lazyplus = torch_lazyplus:_autoload"]},
    python_requires=">=3.10",
)
