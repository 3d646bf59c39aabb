"""DLPack for lazyplus tensors: ``torch.from_dlpack(t)`` shares ``t``'s storage, as on other devices.

PyTorch's ``Tensor.__dlpack_device__`` names a PrivateUse1 device only while the backend keeps the name
"privateuse1" (torch 2.11-2.14 compare ``device.type`` with it), so a renamed backend gets
``ValueError: Unknown device type``: lazyplus tensors answer ``kDLExtDev`` here. An export computes the
tensor and publishes its storage; ``from_dlpack`` then gives the imported tensor that storage
(torch_lazyplus/csrc/tensor/dlpack.h), since PyTorch's import wraps the address in a storage lazyplus
cannot track.
"""
import functools

import torch
import torch.utils.dlpack

from . import _C


def _is_lazyplus(obj) -> bool:
    return isinstance(obj, torch.Tensor) and obj.device.type == "lazyplus"


def _dlpack_device(upstream):
    @functools.wraps(upstream)
    def __dlpack_device__(self):
        if _is_lazyplus(self):
            return (torch.utils.dlpack.DLDeviceType.kDLExtDev, self.device.index or 0)
        return upstream(self)
    return __dlpack_device__


def _dlpack(upstream):
    @functools.wraps(upstream)
    def __dlpack__(self, *args, **kwargs):
        if _is_lazyplus(self):
            _C._publish_for_dlpack(self)
        return upstream(self, *args, **kwargs)
    return __dlpack__


def _from_dlpack(upstream):
    @functools.wraps(upstream)
    def from_dlpack(*args, **kwargs):
        tensor = upstream(*args, **kwargs)
        if _is_lazyplus(tensor):
            _C._adopt_dlpack_import(tensor)
        return tensor
    return from_dlpack


def install():
    if getattr(torch.Tensor.__dlpack__, "_lazyplus", False):
        return
    torch.Tensor.__dlpack_device__ = _dlpack_device(torch.Tensor.__dlpack_device__)
    torch.Tensor.__dlpack__ = _dlpack(torch.Tensor.__dlpack__)
    torch.Tensor.__dlpack__._lazyplus = True
    torch.from_dlpack = torch.utils.dlpack.from_dlpack = _from_dlpack(torch.utils.dlpack.from_dlpack)
