"""The CUDA target's GPU part, ``liblazyplus_cuda.so``: built only where torch is a CUDA build, loaded
on first use. It needs a GPU only when a kernel runs."""
import os

import torch

from . import _nvrtc

LIBRARY = os.path.join(os.path.dirname(__file__), "liblazyplus_cuda.so")
_loaded = False


def built() -> bool:
    return os.path.exists(LIBRARY)


def load():
    """Registers ``torch.ops.lazyplus.run_cuda_region``."""
    global _loaded
    if not _loaded:
        if not built():
            raise RuntimeError("lazyplus was built without CUDA: torch.version.cuda was None when it was built")
        torch.ops.load_library(LIBRARY)
        _loaded = True


def run_region(region: dict, inputs, outputs):
    """Runs a region of :func:`torch_lazyplus.debug.cuda_sources` on the current stream: its inputs' values
    and its outputs in its order, contiguous CUDA tensors, except one-element CPU tensors for the inputs
    it takes by value (``region["by_value"]``: host numbers)."""
    load()
    _nvrtc.available()
    torch.ops.lazyplus.run_cuda_region(region["name"], region["text"], region["kernels"], region["by_value"],
                                       " ".join(region["ops"]), region["whole_rows"], region["rows"], region["cols"],
                                       inputs, outputs)
