"""Counters of the lazyplus backend, named as ``torch._lazy.metrics`` names them.

``lazy::<op>``: ops traced into the graph; ``aten::<op>``: ops that fell back to the CPU;
``CachedCompile`` / ``UncachedCompile``: graphs found in / added to the compile cache;
``Sync`` and ``Sync::<reason>``: sync points and their causes; ``TraceTimeNs``, ``CompileTimeNs``,
``ExecuteTimeNs``, ``TransferToDeviceTimeNs``, ``TransferFromDeviceTimeNs``: where the time went.
:func:`graphs` breaks the times down per graph.
"""
from . import _C

__all__ = ["counters", "graphs", "report", "reset"]


def counters() -> dict:
    """Nonzero counters, by name."""
    return dict(_C._counters())


def graphs() -> list:
    """One dict per distinct graph synced so far: ``graph`` (hash), ``nodes``, ``location`` (the user's
    line of its first sync), ``runs``, ``compiles``, and total ``trace_ms`` (recording its ops and
    building it), ``compile_ms``, ``execute_ms`` and ``transfer_ms`` (copying its results to the host)."""
    return _C._explain_graphs()


def reset() -> None:
    """Zeroes the counters (per-graph statistics: :func:`torch_lazyplus.debug.clear_explain`)."""
    _C._reset_counters()


_TIMES = (("trace", "TraceTimeNs"), ("compile", "CompileTimeNs"), ("execute", "ExecuteTimeNs"),
          ("to host", "TransferFromDeviceTimeNs"), ("to device", "TransferToDeviceTimeNs"))


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
        "time: " + ", ".join(f"{label} {c.get(k, 0) / 1e6:.1f} ms" for label, k in _TIMES),
        f"CPU fallbacks: {sum(fallbacks.values())}"
        + (" (" + ", ".join(f"{k}: {v}" for k, v in sorted(fallbacks.items())) + ")" if fallbacks else ""),
    ]
    return "\n".join(lines)
