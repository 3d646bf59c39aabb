"""Asynchronous execution against synchronous execution and eager, on training steps.

With asynchronous execution (the default where it pays, see README) a sync launches the step's
program and returns: Python records step N+1 while step N runs, and only a host read waits. Each
training loop runs in two styles: `sync` (the step ends with torch_lazyplus.sync(), the losses are read
after the last step) and `item` (the step ends with loss.item(), as the README demo does: every step
waits for its own result). Variants run interleaved, K steps per variant per round; we report the
median time per step and the median of per-round ratios to eager.

    python benchmarks/async_execution.py [--rounds 7] [--only demo,mlp,gpt2_small]

torch.compile and LTC's TorchScript backend are in bench.py; this script compares execution modes.
"""
import argparse
import os
import platform
import statistics
import sys
import time

import torch

import torch_lazyplus

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from workloads import gpt_step, mlp_train_step  # noqa: E402


# name: (make(device) -> step, steps per timing)
WORKLOADS = {
    # The README demo's model and optimizer (examples/train_gpt.py): 2 layers, dim 64, batch 16 x 32.
    "demo": (lambda d: gpt_step(d, vocab=65, block_size=32, dim=64, heads=4, layers=2, batch=16), 10),
    "mlp": (lambda d: mlp_train_step(lambda m: m.to(d)), 10),
    # GPT-2 small's sizes (12 layers, dim 768, 12 heads, 50257 tokens), 1 sequence of 128 tokens.
    "gpt2_small": (lambda d: gpt_step(d, vocab=50257, block_size=128, dim=768, heads=12, layers=12, batch=1), 2),
}

# variant: (device, async or None, loop style)
VARIANTS = {
    "eager": ("cpu", None, "item"),
    "sync/item": ("lazyplus", False, "item"),
    "async/item": ("lazyplus", True, "item"),
    "sync/sync": ("lazyplus", False, "sync"),
    "async/sync": ("lazyplus", True, "sync"),
}


def run_steps(step, device, asynchronous, style, k):
    if asynchronous is not None:
        torch_lazyplus.set_async(asynchronous)
    start = time.perf_counter()
    losses = []
    for _ in range(k):
        loss = step()
        if device == "cpu" or style == "item":
            losses.append(loss.item())
        else:
            torch_lazyplus.sync()
            losses.append(loss)
    values = [v.item() if isinstance(v, torch.Tensor) else v for v in losses]  # the sync style waits here
    elapsed = (time.perf_counter() - start) / k
    assert all(v == v for v in values)
    return elapsed


def measure(name, rounds):
    make, k = WORKLOADS[name]
    steps = {v: make(dev) for v, (dev, _, _) in VARIANTS.items()}
    for v, (dev, asynchronous, style) in VARIANTS.items():
        run_steps(steps[v], dev, asynchronous, style, 2)  # compiles, warms the pools
    times = {v: [] for v in VARIANTS}
    for _ in range(rounds):
        for v, (dev, asynchronous, style) in VARIANTS.items():
            times[v].append(run_steps(steps[v], dev, asynchronous, style, k))
    eager = times["eager"]
    print(f"\n{name} ({k} steps per timing, {rounds} rounds)")
    print(f"{'variant':12} {'median ms/step':>15} {'min ms/step':>12} {'median ratio to eager':>22}")
    for v in VARIANTS:
        ratio = statistics.median(t / e for t, e in zip(times[v], eager))
        print(f"{v:12} {statistics.median(times[v]) * 1e3:15.2f} {min(times[v]) * 1e3:12.2f} {ratio:22.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", default=",".join(WORKLOADS))
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"tile ISA {torch_lazyplus._C._tile_isa()}")
    for name in args.only.split(","):
        measure(name, args.rounds)
    torch_lazyplus.set_async(True)


if __name__ == "__main__":
    main()
