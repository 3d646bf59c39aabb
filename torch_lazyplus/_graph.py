"""torch_lazyplus.trace: a function's lazy graph, captured once and run on new inputs."""
import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

from . import _C, _dot

__all__ = ["Graph", "trace"]


class Graph:
    """A captured lazy graph (see :func:`trace`): ``text()``, ``dot()``, ``run(*inputs)``, ``nodes()``,
    ``num_nodes`` and ``hash`` (the compile-cache key). Every node carries the user's line that recorded it."""

    def __init__(self, captured, out_spec):
        self._captured = captured
        self._out_spec = out_spec

    @property
    def hash(self) -> int:
        return self._captured.hash

    @property
    def num_nodes(self) -> int:
        return self._captured.num_nodes

    def text(self, sources: bool = True) -> str:
        """The IR text, one node per line; with ``sources``, each line ends with ``# file.py:line``."""
        return self._captured.text(sources)

    def nodes(self) -> list:
        """One dict per node: ``text``, ``op``, ``operands`` (node indices), ``parameter``, ``source``
        (``file.py:line``), ``location`` (full path, line and function) and ``region`` (its fused region or None)."""
        return self._captured.nodes()

    def dot(self) -> str:
        """Graphviz DOT source: one box per node with its line, fused regions as clusters."""
        return _dot.to_dot(self.nodes(), name=f"graph_{self.hash:016x}")

    def run(self, *inputs):
        """Runs the graph on new inputs (the traced dtypes and sizes) through the compile cache: no
        Python runs and nothing is traced again. Outputs come on the inputs' device, shaped as ``fn``'s."""
        host = [torch.as_tensor(x).detach().cpu() for x in inputs]
        outputs = self._captured.run(host)
        lazy = any(isinstance(x, torch.Tensor) and x.device.type == "lazyplus" for x in inputs)
        if lazy:
            outputs = [o.to("lazyplus") for o in outputs]
        return tree_unflatten(outputs, self._out_spec)

    def __repr__(self):
        return f"Graph(hash=0x{self.hash:016x}, num_nodes={self.num_nodes})"


def trace(fn, *example_inputs) -> Graph:
    """Traces ``fn(*example_inputs)`` on lazyplus copies of the inputs into a :class:`Graph`, without
    running it. Tensors ``fn`` reads other than its inputs (weights, constants) are captured by value."""
    inputs = [torch.as_tensor(x).detach().cpu().contiguous().to("lazyplus") for x in example_inputs]
    capture = _C._GraphCapture(inputs)
    outputs, spec = tree_flatten(fn(*inputs))
    for o in outputs:
        if not isinstance(o, torch.Tensor) or o.device.type != "lazyplus":
            raise TypeError(f"torch_lazyplus.trace: fn must return lazyplus tensors (or nested tuples, lists "
                            f"and dicts of them), got {type(o).__name__}"
                            + (f" on {o.device}" if isinstance(o, torch.Tensor) else ""))
    return Graph(capture.finish(outputs), spec)
