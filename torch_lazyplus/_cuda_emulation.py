"""The ``cuda-emulated`` target (``LAZYPLUS_TARGET=cuda-emulated``): the CUDA target's programs on a
machine without a GPU. Memory stays on the host, downloads are copies as a GPU's are, and each fused
region runs its generated kernel's host twin: the same CUDA C text compiled by g++ (once per region
and process), the variant the GPU launcher would pick. It checks everything of the CUDA target but
the GPU itself; it is slow (a compiler call per new region) and needs g++ and torch's headers."""
import collections
import ctypes
import os
import subprocess
import tempfile

import torch
from torch.utils.cpp_extension import include_paths

from . import _C

_MULTIPROCESSORS = 132  # an H100/H200's, for the launcher's choice of variant
_HOST_NUMBER_DTYPES = {float: torch.float64, int: torch.int64, bool: torch.bool, complex: torch.complex128}
_libraries = {}  # region name -> its host twins, loaded
_folder = None
launches = collections.Counter()  # kernel variant ("_vec4", ...) -> launches, for tests and debugging


def build_host_twins(regions, folder):
    """One shared library holding the host twins of `regions` (dicts with "name" and "text"; one compiler call)."""
    files = {os.path.join(folder, region["name"] + ".cpp"): region["text"] for region in regions}
    for path, text in files.items():
        with open(path, "w") as f:
            f.write(text)
    library = os.path.join(folder, "twins.so")
    command = ["g++", "-O1", "-std=c++17", "-shared", "-fPIC", "-w", *[f"-I{p}" for p in include_paths()],
               *files, "-o", library]
    subprocess.run(command, check=True, capture_output=True, text=True)
    return ctypes.CDLL(library)


def host_call(library, entry, rows, cols):
    """run(inputs, outputs) calls the host twin `entry` on tensors (host numbers: one-element tensors)."""
    function = getattr(library, entry)
    function.argtypes = [ctypes.c_longlong, ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p]
    function.restype = None
    pointers = lambda ts: (ctypes.c_void_p * max(len(ts), 1))(*[t.data_ptr() for t in ts])  # noqa: E731
    return lambda inputs, outputs: function(rows, cols, pointers(inputs), pointers(outputs))


def _twins_of(name, text):
    global _folder
    if name not in _libraries:
        _folder = _folder or tempfile.TemporaryDirectory(prefix="lazyplus-twins-")
        folder = os.path.join(_folder.name, name)
        os.makedirs(folder, exist_ok=True)
        _libraries[name] = build_host_twins([{"name": name, "text": text}], folder)
    return _libraries[name]


def run_region_on_host(name, text, kernels, by_value, region, whole_rows, rows, cols, inputs, outputs):
    """The CPU kernel of ``torch.ops.lazyplus.run_cuda_region``."""
    n = rows * cols
    if n == 0:
        return
    # Host numbers come as 0-dim tensors, or (wrapped numbers) as Python numbers.
    inputs = [v if isinstance(v, torch.Tensor) else torch.tensor(v, dtype=_HOST_NUMBER_DTYPES[type(v)]) for v in inputs]
    buffers = [t for t, host_number in zip(inputs, by_value) if not host_number] + list(outputs)
    aligned = all(t.data_ptr() % (4 * t.element_size()) == 0 for t in buffers if t.numel() == n)
    variant, _, _ = _C._configure_launch(whole_rows, rows, cols, aligned, _MULTIPROCESSORS)
    launches[kernels[variant][len(name):]] += 1
    entry = kernels[variant].replace(name, name + "_host", 1)
    host_call(_twins_of(name, text), entry, rows, cols)(inputs, list(outputs))


def install():
    torch.library.impl("lazyplus::run_cuda_region", "CPU")(run_region_on_host)
