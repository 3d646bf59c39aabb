"""Python halves of the core library's torch.classes/torch.ops registrations: the fake Graph class and
the fake kernel of ``lazyplus::run_graph``, so that FakeTensor and ``torch.export`` can trace modules that
hold a ``torch.classes.lazyplus.Graph``. Fake classes live in Python by PyTorch's design; everything
else works from the core library alone (see :func:`torch_lazyplus.library_path`)."""
import torch


@torch._library.register_fake_class("lazyplus::Graph")
class FakeGraph:
    """What tracing needs of a Graph: the sizes and dtypes of its inputs and outputs."""

    def __init__(self, hash, num_nodes, input_sizes, input_dtypes, output_sizes, output_dtypes):
        self._hash, self._num_nodes = hash, num_nodes
        self.inputs = [(list(s), _dtype(d)) for s, d in zip(input_sizes, input_dtypes)]
        self.outputs = [(list(s), _dtype(d)) for s, d in zip(output_sizes, output_dtypes)]

    @classmethod
    def __obj_unflatten__(cls, flattened):
        return cls(**dict(flattened))

    def run(self, inputs):
        if len(inputs) != len(self.inputs):
            raise RuntimeError(f"lazyplus.Graph.run: expected {len(self.inputs)} inputs (as traced), got {len(inputs)}")
        device = inputs[0].device if inputs else torch.device("cpu")
        return [torch.empty(sizes, dtype=dtype, device=device) for sizes, dtype in self.outputs]

    def text(self):
        return f"<fake lazyplus.Graph 0x{self._hash & 0xFFFF_FFFF_FFFF_FFFF:016x}>"

    def hash(self):
        return self._hash

    def num_nodes(self):
        return self._num_nodes

    def __len__(self):
        raise TypeError("object of type 'lazyplus.Graph' has no len()")


# The core registers Meta kernels of its own (it works without Python); a fake impl replaces them for
# FakeTensor. torch 2.13 lets it by default, 2.11 only when asked.
@torch.library.register_fake("lazyplus::run_graph", allow_override=True)
def _run_graph_fake(graph, inputs):
    if isinstance(graph, torch.ScriptObject):  # a real Graph (FakeTensorMode alone does not fake it)
        graph = FakeGraph.__obj_unflatten__(graph.__obj_flatten__())
    return graph.run(inputs)


@torch.library.register_fake("lazyplus::run_graph_backward", allow_override=True)
def _run_graph_backward_fake(graph, inputs, grad_outputs):
    return [torch.empty_like(t) for t in inputs]


def _dtype(name: str) -> torch.dtype:
    """The torch.dtype of a c10::ScalarType name ("Float", "BFloat16", ...)."""
    return _DTYPES[name]


def _scalar_type_names() -> dict:
    dtypes = (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.complex64, torch.complex128,
              torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool)
    return {torch.empty(0, dtype=d).type()[len("torch."):-len("Tensor")]: d for d in dtypes}  # torch.FloatTensor


_DTYPES = _scalar_type_names()
