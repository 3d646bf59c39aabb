"""Inspecting pending lazyplus graphs."""
from . import _C

__all__ = ["ir_text", "graph_hash", "pending_ir_text", "tile_isa"]


def _as_list(tensors):
    return [tensors] if hasattr(tensors, "device") else list(tensors)


def ir_text(tensors) -> str:
    """Deterministic text of the graph that computes ``tensors`` (one line per node)."""
    return _C._ir_text(_as_list(tensors))


def graph_hash(tensors) -> int:
    """The structural hash of the graph that computes ``tensors`` (the compile cache key)."""
    return _C._graph_hash(_as_list(tensors))


def pending_ir_text() -> str:
    """Text of everything the next :func:`torch_lazyplus.sync` would run."""
    return _C._pending_ir_text()


def tile_isa() -> str:
    """The instruction set the fused lowering's tile interpreter runs with on this CPU, picked at
    start-up: ``"avx512"``, ``"avx2"`` or ``"default"``."""
    return _C._tile_isa()
