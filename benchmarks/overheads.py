"""Fixed costs of the lazy backends on tiny tensors, in microseconds: recording an op, a sync of a
cached graph, executing a cached node, compiling a new graph, and the first training step against a
steady one. Each measurement returns {backend name: µs}; eager is the per-op dispatch reference."""
import time

import torch

OPS = 1000  # ops per measurement


def _best(fn, repeats=7):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def recording(backends, scalar_operand, rounds=20):
    """µs per `y = y + x` (or `y = y + 0.5`) without syncing: the cost of building the graph. Backends take
    turns within each round (the machine's noise hits them alike); each keeps its best round."""
    xs = {b.name: b.to(torch.ones(1)) for b in backends}
    best = {b.name: float("inf") for b in backends}
    for _ in range(rounds):
        for b in backends:
            y = xs[b.name]
            start = time.perf_counter()
            for _ in range(OPS):
                y = y + 0.5 if scalar_operand else y + xs[b.name]
            best[b.name] = min(best[b.name], time.perf_counter() - start)
            del y
            b.sync()  # not timed: the pending graph must not grow across rounds
    return {name: t / OPS * 1e6 for name, t in best.items()}


def _graph(backend, nodes):
    x = backend.to(torch.ones(1))

    def run():
        y = x
        for _ in range(nodes):
            y = y + x
        backend.sync()

    return run


def sync_fixed(backend):
    """µs for one cached 1-op graph: record, hash, look up, execute."""
    run = _graph(backend, 1)
    run()
    return _best(run, repeats=50) * 1e6


def cached_node(backend):
    """µs per node of a cached graph of OPS nodes, beyond recording it."""
    run = _graph(backend, OPS)
    run()
    total = _best(run)
    return max(total * 1e6 - recording([backend], False)[backend.name] * OPS, 0.0) / OPS


def cache_miss_node(backend, clear_cache):
    """µs per node of compiling a new graph of OPS nodes (cache cleared before each run)."""
    run = _graph(backend, OPS)
    run()
    hit = _best(run)

    def miss():
        clear_cache()
        run()

    return max(_best(miss) - hit, 0.0) / OPS * 1e6
