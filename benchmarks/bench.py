"""lazyplus against eager, torch.compile (inductor) and PyTorch's LTC TorchScript backend, side by side.

Workloads run in interleaved rounds (each round runs every backend once), after warm-up; we report
each backend's minimum time and the median of its per-round ratios to eager (the machines are noisy:
never trust one absolute time). Then the fixed costs of the lazy backends. Writes results.json and,
where matplotlib is installed, results.png into --out.

    python benchmarks/bench.py [--rounds 15] [--only chain_16M,mlp_train_step] [--out benchmarks]
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import overheads  # noqa: E402
from backends import all_backends  # noqa: E402
from workloads import WORKLOADS  # noqa: E402


def timed(step):
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def run_workload(name, backends, rounds, warmup=3):
    steps = {}
    first = {}
    for b in backends:
        steps[b.name] = WORKLOADS[name](b)
        first[b.name] = timed(steps[b.name])  # includes compiling
        for _ in range(warmup - 1):
            steps[b.name]()
    times = {b.name: [] for b in backends}
    for _ in range(rounds):
        for b in backends:
            times[b.name].append(timed(steps[b.name]))
    eager = times["eager"]
    return {
        b.name: {
            "min_ms": min(times[b.name]) * 1e3,
            "median_ms": statistics.median(times[b.name]) * 1e3,
            "median_ratio_to_eager": statistics.median(t / e for t, e in zip(times[b.name], eager)),
            "min_ratio_to_eager": min(times[b.name]) / min(eager),
            "first_call_ms": first[b.name] * 1e3,
        }
        for b in backends
    }


def run_overheads(backends):
    import torch_lazyplus

    clear = {"lazyplus": torch_lazyplus._C._clear_compile_cache}
    lazy = [b for b in backends if b.name in ("lazyplus", "ltc_ts")]
    recorders = [b for b in backends if b.name != "inductor"]
    result = {
        "recording_us_per_op": overheads.recording(recorders, False),
        "recording_scalar_us_per_op": overheads.recording(recorders, True),
        "sync_fixed_us": {b.name: overheads.sync_fixed(b) for b in lazy},
        "cached_execution_us_per_node": {b.name: overheads.cached_node(b) for b in lazy},
        "cache_miss_us_per_node": {b.name: overheads.cache_miss_node(b, clear[b.name]) for b in lazy
                                   if b.name in clear},
    }
    return result


def print_table(results):
    names = [b for b in next(iter(results.values()))]
    print(f"{'workload':30s}" + "".join(f"{n:>26s}" for n in names))
    for workload, per_backend in results.items():
        cells = [f"{r['min_ms']:8.2f}ms {r['median_ratio_to_eager']:5.2f}x/eager" for r in per_backend.values()]
        print(f"{workload:30s}" + "".join(f"{c:>26s}" for c in cells))


def plot(results, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (pip install matplotlib)")
        return
    names = list(next(iter(results.values())))
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        ratios = [1.0 / r[name]["median_ratio_to_eager"] for r in results.values()]
        ax.bar([x + i * width for x in range(len(results))], ratios, width, label=name)
    ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(results))], list(results), rotation=15,
                  fontsize=8)
    ax.axhline(1.0, color="gray", linewidth=0.8)
    ax.set_ylabel("speed-up over eager (median of rounds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--only", default="", help="comma-separated workload names")
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = parser.parse_args()
    backends = all_backends()
    names = args.only.split(",") if args.only else list(WORKLOADS)
    results = {}
    for name in names:
        results[name] = run_workload(name, backends, args.rounds)
        print(f"{name}: " + ", ".join(f"{k} {v['min_ms']:.2f}ms ({v['median_ratio_to_eager']:.2f}x)"
                                      for k, v in results[name].items()), flush=True)
    print()
    print_table(results)
    fixed = run_overheads(backends)
    print("\nfixed costs (µs):")
    for key, per_backend in fixed.items():
        print(f"  {key:32s} " + ", ".join(f"{k} {v:.2f}" for k, v in per_backend.items()))
    meta = {"torch": torch.__version__, "machine": platform.machine(), "cores": os.cpu_count(),
            "rounds": args.rounds, "date": time.strftime("%Y-%m-%d %H:%M")}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "workloads": results, "fixed_costs": fixed}, f, indent=1)
    plot(results, os.path.join(args.out, "results.png"))


if __name__ == "__main__":
    main()
