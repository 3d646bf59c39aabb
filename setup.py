"""Builds torch_lazyplus._C: the C++ core (torch_lazyplus/csrc), the generated lazy kernels and the
pybind11 bindings. Code generation (codegen/gen.py) runs first and writes into the build tree."""
import glob
import os
import subprocess
import sys

from setuptools import find_packages, setup

# An installed torch_lazyplus is autoloaded by `import torch`; while it is being (re)built its
# extension may be missing, so the build must not autoload it.
os.environ["TORCH_DEVICE_BACKEND_AUTOLOAD"] = "0"
from torch.utils.cpp_extension import BuildExtension, CppExtension

ROOT = os.path.dirname(os.path.abspath(__file__))
GEN_DIR = os.path.join(ROOT, "build", "generated")


def generate():
    subprocess.check_call([sys.executable, os.path.join(ROOT, "codegen", "gen.py"), "--out", GEN_DIR])
    return sorted(glob.glob(os.path.join(GEN_DIR, "*.cpp")))


def sources():
    core = sorted(glob.glob(os.path.join("torch_lazyplus", "csrc", "**", "*.cpp"), recursive=True))
    bindings = sorted(glob.glob(os.path.join("torch_lazyplus", "python", "*.cpp")))
    generated = [os.path.relpath(p, ROOT) for p in generate()]
    return core + generated + bindings


setup(
    name="torch_lazyplus",
    version="0.1.0",
    description="A lazy-tensor PrivateUse1 backend for PyTorch",
    packages=find_packages(include=["torch_lazyplus", "torch_lazyplus.*"]),
    ext_modules=[
        CppExtension(
            "torch_lazyplus._C",
            sources(),
            include_dirs=[os.path.join(ROOT, "torch_lazyplus", "csrc"), GEN_DIR],
            extra_compile_args=["-O2", "-g0", "-fopenmp", "-Wno-unused-parameter", "-Wno-unknown-pragmas"],
            extra_link_args=["-fopenmp"],
        )
    ],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
    entry_points={"torch.backends": ["lazyplus = torch_lazyplus:_autoload"]},
    python_requires=">=3.10",
)
