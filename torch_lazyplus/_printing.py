"""Printing a lazyplus tensor formats a host copy, as PyTorch does for its own lazy devices.

PyTorch's formatter (``torch._tensor_str._tensor_str``) runs dozens of small ops and reads every
shown element with ``.item()``: on a lazy device each read is a sync, and ``masked_select`` has no
lazy kernel (an error under ``LAZYPLUS_STRICT=1``). PyTorch copies ``xla``, ``lazy``, ``ipu`` and
``mtia`` tensors to the CPU before formatting for that reason, by device name; this does the same
for ``lazyplus``: one sync per printed tensor.
"""
import torch._tensor_str

_format_contents = torch._tensor_str._tensor_str


def _tensor_str(self, indent):
    if self.device.type == "lazyplus":
        self = self.to("cpu")
    return _format_contents(self, indent)


def install():
    if torch._tensor_str._tensor_str is not _tensor_str:
        torch._tensor_str._tensor_str = _tensor_str
