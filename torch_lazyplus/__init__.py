"""torch_lazyplus: a lazy-tensor PyTorch device.

``import torch_lazyplus`` registers the ``"lazyplus"`` device. Ops on lazyplus tensors are recorded
into an IR graph and run at a sync point: ``.cpu()``, ``.item()``, printing, or :func:`sync`.
"""
import atexit
import contextlib
import os
import sysconfig


def _autoload():
    """Entry point of the ``torch.backends`` group: ``import torch`` registers lazyplus.

    Defined before ``import torch``: when this package is a program's first import, ``import torch``
    below runs the autoload entry points while this module is still partially initialized, and
    finds this function. Importing the rest of this package registers the device."""


import torch  # noqa: E402  (after _autoload, see above)

from . import _C, _cuda, _device, _distributed, _dlpack, _library, _pickling, _printing, debug, metrics
from ._graph import Graph, trace
from ._step import CapturedStep, capture_step

__all__ = ["sync", "trace", "Graph", "capture_step", "CapturedStep", "metrics", "debug", "set_strict", "is_strict", "set_lowering", "lowering",
           "use_lowering", "set_async", "is_async", "library_path", "target"]


def library_path() -> str:
    """The core library (no Python inside): ``torch.classes.load_library(path)`` registers the lazyplus
    device, ``torch.ops.lazyplus.*`` and ``torch.classes.lazyplus.*`` in any process; C++ programs link it."""
    return os.path.join(os.path.dirname(__file__), "liblazyplus.so")


def _register():
    # The core library named the backend already; this also sets PyTorch's Python-side name.
    torch.utils.rename_privateuse1_backend("lazyplus")
    if not hasattr(torch, "lazyplus"):
        torch._register_device_module("lazyplus", _device)
    if not hasattr(torch.Tensor, "is_lazyplus"):
        torch.utils.generate_methods_for_privateuse1_backend(for_storage=True)
    if _cuda.built():
        _cuda.load()  # before the first lazyplus op picks the target (target())
    if os.environ.get("LAZYPLUS_TARGET") == "cuda-emulated":
        from . import _cuda_emulation
        _cuda_emulation.install()
    _printing.install()
    _pickling.install()
    _dlpack.install()
    _distributed.install()
    # A node's source is the innermost frame outside these directories: the user's line.
    libraries = [os.path.dirname(torch.__file__), os.path.dirname(__file__), sysconfig.get_paths()["stdlib"]]
    _C._install_source_capture([os.path.join(d, "") for d in libraries])
    # Programs still running at exit finish before the interpreter (and the libraries they use) goes.
    atexit.register(_C._wait)


def sync():
    """Launches every pending computation on lazyplus tensors (like ``torch._lazy.mark_step``) and
    returns while it runs; reading a result (``.cpu()``, ``.item()``) waits for it."""
    _C._sync("sync")


def set_async(enabled: bool = True):
    """Whether a sync returns before its program has run (the same as ``LAZYPLUS_ASYNC=1``; off by
    default: the program's thread would slow every OpenMP kernel in the process, see backend.cpp)."""
    _C._set_async(enabled)


def is_async() -> bool:
    return _C._async()


def set_strict(strict: bool = True):
    """Makes a CPU fallback an error (the same as ``LAZYPLUS_STRICT=1``)."""
    _C._set_strict(strict)


def is_strict() -> bool:
    return _C._is_strict()


def target() -> str:
    """Where lazyplus devices compute: ``"cuda"`` (a GPU: device memory, generated CUDA kernels, ATen's
    CUDA kernels), ``"cpu"``, or ``"cuda-emulated"`` (the CUDA programs on the host, for tests).
    ``LAZYPLUS_TARGET`` chooses; by default ``"cuda"`` where torch sees a GPU and lazyplus was built
    with a CUDA torch. Fixed at the first lazyplus op."""
    return _C._target()


def set_lowering(name: str):
    """Selects how graphs are lowered (the same as ``LAZYPLUS_LOWERING``): ``"fused"`` (the default:
    fused tile programs plus ATen kernels) or ``"reference"`` (one ATen CPU call per node)."""
    _C._set_lowering(name)


def lowering() -> str:
    return _C._lowering()


@contextlib.contextmanager
def use_lowering(name: str):
    """Lowers the graphs synced inside the ``with`` block with ``name``; restores the previous one."""
    before = lowering()
    set_lowering(name)
    try:
        yield
    finally:
        set_lowering(before)


_register()
