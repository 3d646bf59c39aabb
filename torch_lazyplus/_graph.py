"""torch_lazyplus.trace: a function's lazy graph, captured once and run on new inputs."""
import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

from . import _C, _dot

__all__ = ["Graph", "trace"]


class Graph:
    """A captured lazy graph (see :func:`trace`): ``text()``, ``dot()``, ``run(*inputs)``, ``nodes()``,
    ``num_nodes`` and ``hash`` (the compile-cache key). Every node carries the user's line that recorded it.
    ``script_object`` is the same graph as a ``torch.classes.lazyplus.Graph``, for TorchScript,
    ``torch.save`` and processes without this package."""

    def __init__(self, script_object, out_spec):
        self.script_object = script_object
        self._out_spec = out_spec

    @property
    def hash(self) -> int:
        return self.script_object.hash() & 0xFFFF_FFFF_FFFF_FFFF

    @property
    def num_nodes(self) -> int:
        return self.script_object.num_nodes()

    def text(self, sources: bool = True) -> str:
        """The IR text, one node per line; with ``sources``, each line ends with ``# file.py:line``."""
        return _C._captured_text(self.script_object, sources)

    def nodes(self) -> list:
        """One dict per node: ``text``, ``op``, ``operands`` (node indices), ``parameter``, ``source``
        (``file.py:line``), ``location`` (full path, line and function) and ``region`` (its fused region or None)."""
        return _C._captured_nodes(self.script_object)

    def dot(self) -> str:
        """Graphviz DOT source: one box per node with its line, fused regions as clusters."""
        return _dot.to_dot(self.nodes(), name=f"graph_{self.hash:016x}")

    def run(self, *inputs):
        """Runs the graph on new inputs of the traced dtypes and sizes (``torch.ops.lazyplus.run_graph``):
        CPU inputs run the compiled program at once; lazyplus inputs add the graph to the pending
        computation, to fuse with what follows. Nothing is traced from Python again. Outputs are shaped
        as ``fn``'s; with inputs that require grad, gradients flow through."""
        device = next((x.device for x in inputs if isinstance(x, torch.Tensor)), torch.device("cpu"))
        tensors = [torch.as_tensor(x, device=device) for x in inputs]
        return tree_unflatten(torch.ops.lazyplus.run_graph(self.script_object, tensors), self._out_spec)

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
