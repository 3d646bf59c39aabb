"""Where the CUDA target finds NVRTC: a CUDA build of torch has it loaded already; elsewhere the core
looks in the folder of the ``nvidia-cuda-nvrtc`` wheel (``nvidia/cu13/lib``), found here."""
import importlib.util
import os

from . import _C

_LIBRARY = "libnvrtc.so.13"


def wheel_folder(inside: str):
    """The nvidia wheels' CUDA 13 folder (``nvidia/cu13``) holding the file ``inside``, or None."""
    spec = importlib.util.find_spec("nvidia")
    for root in (spec.submodule_search_locations or []) if spec else []:
        if os.path.exists(os.path.join(root, "cu13", inside)):
            return os.path.join(root, "cu13")
    return None


def available():
    """(True, "") when NVRTC loads, else (False, what was tried)."""
    folder = wheel_folder(os.path.join("lib", _LIBRARY))
    if folder:
        _C._set_nvrtc_folder(os.path.join(folder, "lib"))
    return _C._nvrtc_available()


def version():
    """NVRTC's (major, minor)."""
    available()
    return _C._nvrtc_version()


def compile(source: str, name: str, arch: int) -> dict:
    """Compiles ``source`` for ``sm_<arch>``: ``ok``, ``log`` (with ptxas's registers and spills per kernel)
    and ``cubin``."""
    available()
    return _C._nvrtc_compile(source, name, arch)
