"""torch.distributed on lazyplus tensors: the ``"lazyplus"`` c10d backend (``csrc/distributed/``).

``init_process_group("lazyplus")`` serves CPU and lazyplus tensors, ``"cpu:gloo,lazyplus:lazyplus"`` pairs
it with gloo's own group for CPU tensors, and ``init_process_group()`` picks it for the lazyplus device.
Its collectives on lazyplus tensors are recorded into the graph; gloo moves the bytes.
"""
import torch.distributed as dist

from . import _C


def _create(store, rank, world_size, timeout):
    return _C._lazyplus_backend(dist.ProcessGroupGloo(store, rank, world_size, timeout))


def install():
    if dist.is_available() and dist.is_gloo_available() and "lazyplus" not in dist.Backend.backend_list:
        dist.Backend.register_backend("lazyplus", _create, devices=["cpu", "lazyplus"])
