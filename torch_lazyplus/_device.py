"""``torch.lazyplus``: the device module PyTorch looks up for the "lazyplus" device."""
import contextlib
import dataclasses
import os
import platform

import torch

from . import _C

__all__ = ["is_available", "device_count", "current_device", "set_device", "device", "synchronize", "init",
           "is_initialized", "manual_seed", "manual_seed_all", "seed", "seed_all", "initial_seed", "get_rng_state",
           "set_rng_state", "get_rng_state_all", "set_rng_state_all", "default_generator", "get_amp_supported_dtype",
           "get_device_name", "get_device_properties", "Stream", "Event", "current_stream", "default_stream",
           "stream"]


def is_available() -> bool:
    return True


def init() -> None:
    """``torch.cuda.init``'s counterpart: the device is ready once this package is imported."""


def is_initialized() -> bool:
    return True


def _lazy_init():
    pass


def _is_in_bad_fork() -> bool:
    return False


def device_count() -> int:
    return _C._device_count()


def current_device() -> int:
    return _C._current_device()


def _index(device) -> int:
    if device is None:
        return current_device()
    if isinstance(device, int):
        return device
    device = torch.device(device)
    if device.type != "lazyplus":
        raise ValueError(f"Expected a lazyplus device, got {device}")
    return current_device() if device.index is None else device.index


def set_device(device) -> None:
    _C._set_device(_index(device))


class device:
    """Context manager that makes ``device`` the current lazyplus device."""

    def __init__(self, device):
        self.index = _index(device)
        self.previous = None

    def __enter__(self):
        self.previous = current_device()
        set_device(self.index)

    def __exit__(self, *exc):
        set_device(self.previous)
        return False


@dataclasses.dataclass(frozen=True)
class DeviceProperties:
    """What ``torch.lazyplus.get_device_properties`` reports: a lazyplus device computes on the host."""
    name: str
    total_memory: int  # bytes of host memory
    multi_processor_count: int  # host cores
    tile_isa: str  # the fused kernels' instruction set


def get_device_name(device=None) -> str:
    return f"lazyplus:{_index(device)} ({platform.processor() or platform.machine()})"


def get_device_properties(device=None) -> DeviceProperties:
    return DeviceProperties(name=get_device_name(device),
                            total_memory=os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
                            multi_processor_count=os.cpu_count() or 1, tile_isa=_C._tile_isa())


# A lazyplus device runs its programs in launch order on one stream (a thread per CPU device, as a CUDA
# stream): every stream of a device is that one, and its events are done once recorded work has run.
# FSDP and DDP's stream-ordering code runs unchanged on it.
Event = torch.Event


def Stream(device=None, priority: int = 0) -> torch.Stream:  # noqa: N802  (torch.cuda.Stream's name)
    return torch.Stream(device=torch.device("lazyplus", _index(device)), priority=priority)


def current_stream(device=None) -> torch.Stream:
    return Stream(device)


default_stream = current_stream


def stream(stream):
    """Context manager that makes ``stream`` current: each device has one, so this changes nothing."""
    return contextlib.nullcontext(stream)


def synchronize(device=None) -> None:
    """Runs every pending computation of ``device`` (the current device by default) and waits until
    it has finished, as ``torch.cuda.synchronize`` waits for one device; ``torch_lazyplus.sync()``
    launches every device's and returns."""
    _C._sync("synchronize", _index(device))
    _C._wait(_index(device))


def default_generator(index: int = -1) -> torch.Generator:
    return _C._default_generator(_index(None if index < 0 else index))


def manual_seed(seed: int) -> None:
    default_generator().manual_seed(int(seed))


def manual_seed_all(seed: int) -> None:
    for i in range(device_count()):
        default_generator(i).manual_seed(int(seed))


def seed() -> None:
    default_generator().seed()


def seed_all() -> None:
    for i in range(device_count()):
        default_generator(i).seed()


def initial_seed() -> int:
    return default_generator().initial_seed()


def get_rng_state(device="lazyplus") -> torch.Tensor:
    return default_generator(_index(device)).get_state()


def set_rng_state(new_state: torch.Tensor, device="lazyplus") -> None:
    default_generator(_index(device)).set_state(new_state)


def get_rng_state_all() -> list:
    return [get_rng_state(i) for i in range(device_count())]


def set_rng_state_all(new_states) -> None:
    for i, state in enumerate(new_states):
        set_rng_state(state, i)


def get_amp_supported_dtype():
    return [torch.float16, torch.bfloat16]
