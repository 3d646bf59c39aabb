"""Inspecting lazyplus graphs: IR text with the user's line per node, pictures, and the explainer
(why each sync, compile and fallback happened, and where)."""
from . import _C, _dot

__all__ = ["ir_text", "graph_hash", "pending_ir_text", "nodes", "render", "explain", "clear_explain",
           "set_verbose", "set_max_graphs_per_site", "set_source_capture", "source_capture_enabled", "tile_isa",
           "cuda_sources"]


def _as_list(tensors):
    return [tensors] if hasattr(tensors, "device") else list(tensors)


def ir_text(tensors, sources: bool = True) -> str:
    """Deterministic text of the graph that computes ``tensors`` (one line per node); with ``sources``,
    each line ends with ``# file.py:line``, the line of user code that recorded the node."""
    return _C._ir_text(_as_list(tensors), sources)


def graph_hash(tensors) -> int:
    """The structural hash of the graph that computes ``tensors`` (the compile cache key)."""
    return _C._graph_hash(_as_list(tensors))


def pending_ir_text(sources: bool = True) -> str:
    """Text of everything the next :func:`torch_lazyplus.sync` would run."""
    return _C._pending_ir_text(sources)


def nodes(tensors) -> list:
    """The graph computing ``tensors`` as one dict per node (see :meth:`torch_lazyplus.Graph.nodes`)."""
    return _C._graph_nodes(_as_list(tensors))


def render(tensors, path: str) -> str:
    """Draws the graph computing ``tensors`` to ``path`` (.svg, .png, .pdf through graphviz's ``dot``;
    .dot writes the source): one box per node with its line, fused regions as clusters."""
    return _dot.write(_dot.to_dot(nodes(tensors)), path)


def explain() -> list:
    """What happened so far, as data: one dict per event with ``kind`` (``sync``, ``compile``,
    ``fallback``, ``warning``), ``cause`` (for a sync: ``explicit sync``, ``.item()``, ``.cpu()``,
    ``print``, ``fallback``, ``data-dependent shape``, ``random op``, ``collective`` (a torch.distributed call
    that runs at once: send, recv, barrier, reduce, gather, scatter); for a compile: ``first graph`` or
    ``new graph``), ``location`` (the user's file, line and function), ``detail`` (for a compile: the
    first node where the graph differs from the closest cached graph, with its line) and ``graph``.
    ``LAZYPLUS_DEBUG=1`` (or :func:`set_verbose`) prints the same events as they happen."""
    return _C._explain_events()


def clear_explain() -> None:
    """Forgets the recorded events and per-graph statistics."""
    _C._explain_clear()


def set_verbose(on: bool = True) -> None:
    """Prints every event to stderr as it happens (the same as ``LAZYPLUS_DEBUG=1``)."""
    _C._set_explain_printing(on)


def set_max_graphs_per_site(n: int) -> int:
    """Warn when one line of user code syncs more than ``n`` distinct graphs (default 8); returns the
    previous limit."""
    return _C._set_max_graphs_per_site(n)


def set_source_capture(on: bool) -> None:
    """Records the user's line on every node (on by default; ``LAZYPLUS_SOURCE=0`` turns it off)."""
    _C._set_source_capture(on)


def source_capture_enabled() -> bool:
    return _C._source_capture_enabled()


def tile_isa() -> str:
    """The instruction set the fused lowering's tile interpreter runs: ``"avx512"``, ``"avx2"`` or
    ``"default"``. It is eager's (``ATEN_CPU_CAPABILITY``, else the CPU's best), so that fused results
    round as eager's kernels do; ``LAZYPLUS_TILE_ISA`` forces one."""
    return _C._tile_isa()


def cuda_sources(tensors) -> list:
    """What the CUDA target compiles for the graph computing ``tensors``, without running it (no GPU
    needed): one dict per fused region with ``name`` (the kernels' prefix: a hash of the text),
    ``text`` (a self-contained CUDA C source), ``kernels`` (its entry points), ``host_entries`` (their
    twins for the host, the same code compiled by a C++ compiler), ``whole_rows``, ``ops``, ``shape``,
    ``split``, ``rows`` and ``cols`` (``shape`` split at ``split``: the kernel's sizes), ``inputs``
    (``tensor``: a lazy tensor of the value read, ``sizes``: its sizes aligned to ``shape``,
    ``materialize``: expanded to ``shape`` before the kernel reads it) and ``outputs`` (``tensor``,
    ``per_row``: one value per row)."""
    return _C._cuda_sources(_as_list(tensors))
