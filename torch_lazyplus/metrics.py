"""Counters of the lazyplus backend, named as ``torch._lazy.metrics`` names them.

``lazy::<op>``: ops traced into the graph; ``aten::<op>``: ops that fell back to the CPU;
``CachedCompile`` / ``UncachedCompile``: graphs found in / added to the compile cache;
``Sync`` and ``Sync::<reason>``: sync points and their causes.
"""
from . import _C

__all__ = ["counters", "report", "reset"]


def counters() -> dict:
    """Nonzero counters, by name."""
    return dict(_C._counters())


def reset() -> None:
    _C._reset_counters()


def report() -> str:
    """A human-readable summary of :func:`counters`."""
    c = counters()
    fallbacks = {k: v for k, v in c.items() if k.startswith("aten::")}
    traced = sum(v for k, v in c.items() if k.startswith("lazy::"))
    lines = [
        f"ops traced: {traced}",
        f"graphs compiled: {c.get('UncachedCompile', 0)}, cache hits: {c.get('CachedCompile', 0)}",
        f"syncs: {c.get('Sync', 0)} ("
        + ", ".join(f"{k[6:]}: {v}" for k, v in sorted(c.items()) if k.startswith("Sync::")) + ")",
        f"CPU fallbacks: {sum(fallbacks.values())}"
        + (" (" + ", ".join(f"{k}: {v}" for k, v in sorted(fallbacks.items())) + ")" if fallbacks else ""),
    ]
    return "\n".join(lines)
