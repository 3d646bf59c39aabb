"""The C++ core is a stack of layers, each a folder of ``torch_lazyplus/csrc``: a file includes headers of
its own layer and of the layers below it, never above, so data flows one way (tracing -> graph ->
scheduling -> backend) and each layer builds and tests without those above it."""
import pathlib
import re

CSRC = pathlib.Path(__file__).resolve().parent.parent / "torch_lazyplus" / "csrc"
# Bottom first.
LAYERS = [
    "support",   # metrics and ATen declarations every layer may use
    "device",    # the device: memory, guard, generators, hooks
    "ir",        # nodes, the graph of a sync (post-order, hash, text)
    "schedule",  # target-neutral: partitioning into regions, tile rules, the tile program bytecode
    "backend",   # the lowering interface and the CPU's: tile interpreter, GEMM and region steps, reference
    "runtime",   # compile cache, execution, captured graphs, the explainer
    "tensor",    # the lazy tensor model: storages, recording, sync
    "aten",      # ATen kernels of the device on that model
    "distributed",  # torch.distributed's lazyplus backend: collectives recorded as nodes
    "library",   # torch.ops.lazyplus and torch.classes.lazyplus
]
INCLUDE = re.compile(r'^#include "([a-z_]+)/[^"]+"', re.MULTILINE)


def includes():
    for path in sorted(CSRC.rglob("*")):
        if path.suffix in (".h", ".cpp"):
            layer = path.relative_to(CSRC).parts[0]
            for target in INCLUDE.findall(path.read_text()):
                yield path.relative_to(CSRC), layer, target


def test_every_folder_of_the_core_is_a_layer():
    assert sorted(p.name for p in CSRC.iterdir() if p.is_dir()) == sorted(LAYERS)


def test_no_layer_includes_a_layer_above_it():
    back_edges = [f"{path} includes {target}/ (above {layer}/)" for path, layer, target in includes()
                  if LAYERS.index(target) > LAYERS.index(layer)]
    assert not back_edges, "\n".join(back_edges)
    assert sum(1 for _ in includes()) > 100  # the scan sees the includes
