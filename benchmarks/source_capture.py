"""Recording cost with and without source capture (the user's line on every IR node), in interleaved
rounds: µs per op for `y = y + x`, `y = y + 0.5` and an nn.Linear forward (its frames pass through
torch.nn, which the capture walks past). Prints min and median per-round ratios on/off."""
import argparse
import statistics
import time

import torch

import torch_lazyplus
from torch_lazyplus import debug

OPS = 1000


def _per_op_us(body):
    start = time.perf_counter()
    body()
    elapsed = (time.perf_counter() - start) / OPS * 1e6
    torch_lazyplus.sync()
    return elapsed


def workloads():
    x = torch.ones(1, device="lazyplus")
    linear = torch.nn.Linear(4, 4).to("lazyplus")
    inp = torch.ones(2, 4, device="lazyplus")

    def add_tensor():
        y = x
        for _ in range(OPS):
            y = y + x

    def add_scalar():
        y = x
        for _ in range(OPS):
            y = y + 0.5

    def linear_forward():
        with torch.no_grad():
            for _ in range(OPS):
                linear(inp)

    return {"y + x": add_tensor, "y + 0.5": add_scalar, "nn.Linear": linear_forward}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    loads = workloads()
    for body in loads.values():  # warm-up: meta caches, first captures
        _per_op_us(body)
    times = {(name, on): [] for name in loads for on in (True, False)}
    for _ in range(args.rounds):
        for name, body in loads.items():
            for on in (True, False):
                debug.set_source_capture(on)
                times[name, on].append(_per_op_us(body))
    debug.set_source_capture(True)
    print(f"{'workload':<12} {'on µs/op':>9} {'off µs/op':>9} {'min ratio':>9} {'median ratio':>12}")
    for name in loads:
        on, off = times[name, True], times[name, False]
        ratios = [a / b for a, b in zip(on, off)]
        print(f"{name:<12} {min(on):>9.2f} {min(off):>9.2f} {min(ratios):>9.3f} {statistics.median(ratios):>12.3f}")


if __name__ == "__main__":
    main()
