"""Pickling a lazyplus tensor writes a host copy of its storage, and unpickling copies the bytes in.

``pickle`` and ``torch.save(..., _use_new_zipfile_serialization=False)`` go through PyTorch's legacy
serializer, which reads and writes a device storage's bytes by wrapping its memory with
``at::from_blob`` (``torch/csrc/serialization.cpp``). A lazyplus storage's
memory is not its value (the value may still be pending), and lazyplus refuses tensors it did not
allocate (``AsLazyStorage``), so the legacy writer gets the storage's host copy (one sync per storage)
and the reader fills a host storage that is then copied to the device. ``torch.save``'s default zip
format moves storages through the CPU itself.
"""
import torch

_write_file = torch.UntypedStorage._write_file
_set_from_file = torch.UntypedStorage._set_from_file


def _write_host_copy(self, f, is_real_file, save_size, element_size):
    if self.device.type == "lazyplus":
        self = self.cpu()
    return _write_file(self, f, is_real_file, save_size, element_size)


def _read_through_host(self, f, offset, is_real_file, element_size):
    if self.device.type != "lazyplus":
        return _set_from_file(self, f, offset, is_real_file, element_size)
    host = torch.UntypedStorage(self.nbytes())
    _set_from_file(host, f, offset, is_real_file, element_size)
    self.copy_(host)
    return self


def install():
    torch.UntypedStorage._write_file = _write_host_copy
    torch.UntypedStorage._set_from_file = _read_through_host
