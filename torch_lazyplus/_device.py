"""``torch.lazyplus``: the device module PyTorch looks up for the "lazyplus" device."""
import torch

from . import _C

__all__ = ["is_available", "device_count", "current_device", "set_device", "device", "synchronize",
           "manual_seed", "manual_seed_all", "seed", "initial_seed", "get_rng_state", "set_rng_state",
           "default_generator", "get_amp_supported_dtype", "is_initialized"]


def is_available() -> bool:
    return True


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


def synchronize(device=None) -> None:
    """Runs every pending computation (lazyplus has one queue for all devices)."""
    _C._sync("synchronize")


def default_generator(index: int = -1) -> torch.Generator:
    return _C._default_generator(_index(None if index < 0 else index))


def manual_seed(seed: int) -> None:
    default_generator().manual_seed(int(seed))


def manual_seed_all(seed: int) -> None:
    for i in range(device_count()):
        default_generator(i).manual_seed(int(seed))


def seed() -> None:
    default_generator().seed()


def initial_seed() -> int:
    return default_generator().initial_seed()


def get_rng_state(device="lazyplus") -> torch.Tensor:
    return default_generator(_index(device)).get_state()


def set_rng_state(new_state: torch.Tensor, device="lazyplus") -> None:
    default_generator(_index(device)).set_state(new_state)


def get_amp_supported_dtype():
    return [torch.float16, torch.bfloat16]
