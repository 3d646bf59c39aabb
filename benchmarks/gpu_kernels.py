"""The CUDA target's kernels on a GPU against eager CUDA and torch.compile (Triton), side by side.

Each workload's fused region comes from lazyplus's code generator (`debug.cuda_sources` of the same
function on small lazyplus tensors: kernels hold no sizes) and runs through the region launcher on
CUDA tensors of the benchmark's sizes. Backends alternate in interleaved rounds; each round's time is
the median of CUDA-event timings after warm-up (compiles included in warm-up). Reports ms, the ratio to
eager, and the bandwidth against a device-to-device copy measured in the same run; then NVRTC's cold
compile and the disk cache's warm load per region. On the cuda target (the default with a GPU), a
`lazyplus_target` column runs the same function on lazyplus tensors end to end: recording, the graph
cache, the launch; and a GPT-2-small training step runs on eager CUDA, inductor and lazyplus. Needs a
GPU and lazyplus's CUDA build.

    python benchmarks/gpu_kernels.py [--rounds 5] [--json results.json]

(Not cuda.py: a script's folder comes first on sys.path, and a cuda.py there shadows the `cuda`
package that torch imports.)
"""
import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import chain, gpt_step  # noqa: E402

import torch_lazyplus  # noqa: E402
from torch_lazyplus import _C, _cuda, debug  # noqa: E402

# name: (function, its tensor arguments' shapes at benchmark size)
WORKLOADS = {
    "chain_256M": (chain, [(1 << 28,)]),
    "softmax_32768x4096": (lambda x: torch.softmax(x, -1), [(32768, 4096)]),
    "layer_norm_32768x4096": (lambda x, w, b: F.layer_norm(x, x.shape[-1:], w, b), [(32768, 4096), (4096,), (4096,)]),
}


def small_shapes(shapes):
    """The shapes with each distinct size replaced by a small one (distinct sizes stay distinct: the
    graph keeps its size classes), for finding the region on lazyplus tensors: kernels hold no sizes."""
    sizes = {}
    for shape in shapes:
        for s in shape:
            sizes.setdefault(s, 8 + len(sizes))
    return [[sizes[s] for s in shape] for shape in shapes]


def region_of(fn, shapes, device="cuda"):
    """fn's one fused region with its sizes set to the benchmark's, and tensors on `device`: fn's
    arguments, the region's inputs (the same memory, flat; host numbers on the host) and its outputs."""
    smalls = small_shapes(shapes)
    (region,) = debug.cuda_sources([fn(*[torch.randn(*s).to("lazyplus") for s in smalls])])
    full, split = list(shapes[0]), region["split"]  # the first argument spans each workload's region
    rows, cols = math.prod(full[:split]), math.prod(full[split:])
    region = dict(region, shape=full, rows=rows, cols=cols)
    args = [torch.randn(*s, device=device) for s in shapes]
    # A region reads tensors flat, in the order of their first use (here the arguments' order).
    by_numel = {}
    for small_shape, a in zip(smalls, args):
        by_numel.setdefault(math.prod(small_shape), []).append(a.reshape(-1))
    inputs = [i["tensor"].cpu() if by_value else by_numel[i["tensor"].numel()].pop(0)
              for i, by_value in zip(region["inputs"], region["by_value"])]
    outputs = [torch.empty(rows if o["per_row"] else rows * cols, dtype=o["tensor"].dtype, device=device)
               for o in region["outputs"]]
    return region, args, inputs, outputs


def gpu_ms(fn, repeats=20):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(repeats):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def copy_bandwidth():
    x = torch.empty(1 << 28, device="cuda")
    y = torch.empty_like(x)
    y.copy_(x)
    return 2 * x.nbytes / (gpu_ms(lambda: y.copy_(x)) * 1e-3)


def compile_latency(region):
    """(cold NVRTC compile, load from the disk cache) of a region's kernels, in ms."""
    major, minor = torch.cuda.get_device_capability()
    compile_it = lambda: _C._cuda_cubin(region["name"], region["text"], major * 10 + minor, "benchmark")  # noqa: E731
    with tempfile.TemporaryDirectory() as folder:
        os.environ["LAZYPLUS_KERNEL_CACHE"] = folder
        times = []
        for _ in range(2):  # compiled, then read back
            _C._clear_kernel_memory_cache()
            start = time.perf_counter()
            compile_it()
            times.append((time.perf_counter() - start) * 1e3)
        del os.environ["LAZYPLUS_KERNEL_CACHE"]
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    _cuda.load()
    copy = copy_bandwidth()
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}; device-to-device copy {copy / 1e12:.2f} TB/s")
    results = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "copy_TBps": copy / 1e12,
               "workloads": {}}
    for name, (fn, shapes) in WORKLOADS.items():
        region, tensors, inputs, outputs = region_of(fn, shapes)
        compiled = torch.compile(fn)
        backends = {"eager": lambda: fn(*tensors), "lazyplus": lambda: _cuda.run_region(region, inputs, outputs),
                    "inductor": lambda: compiled(*tensors)}
        if torch_lazyplus.target() == "cuda":  # the whole target: recording, graph cache, launch
            on_lazyplus = [t.to("lazyplus") for t in tensors]
            backends["lazyplus_target"] = lambda: (fn(*on_lazyplus), torch_lazyplus.sync())
        for run in backends.values():  # warm-up: compiles, autotuning, module loads
            run()
        torch.cuda.synchronize()
        times = {b: [] for b in backends}
        for _ in range(args.rounds):
            for b, run in backends.items():
                times[b].append(gpu_ms(run))
        moved = sum(t.nbytes for t in inputs if t.numel() > 1) + sum(t.nbytes for t in outputs)
        row = {b: statistics.median(t) for b, t in times.items()}
        ratio = {b: statistics.median(t / e for t, e in zip(times[b], times["eager"])) for b in backends}
        cold, warm = compile_latency(region)
        results["workloads"][name] = {"ms": row, "ratio_to_eager": ratio, "bandwidth_of_copy": moved / (row["lazyplus"] * 1e-3) / copy,
                                      "compile_cold_ms": cold, "compile_warm_ms": warm}
        print(f"{name}: " + ", ".join(f"{b} {row[b]:.3f} ms ({ratio[b]:.2f}x)" for b in backends)
              + f"; lazyplus at {moved / (row['lazyplus'] * 1e-3) / copy:.0%} of copy bandwidth;"
              f" compile {cold:.0f} ms cold, {warm:.2f} ms from disk")
    if torch_lazyplus.target() == "cuda":
        results["gpt2_small_step"] = gpt2_small_step(args.rounds)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def gpt2_small_step(rounds):
    """A training step of the README demo's GPT at GPT-2-small sizes (12 layers, d=768, 12 heads, vocab
    50257, batch 8 x 256; AdamW, clipping) on eager CUDA, inductor and lazyplus, interleaved."""
    sizes = dict(vocab=50257, block_size=256, dim=768, heads=12, layers=12, batch=8)
    steps = {"eager": gpt_step("cuda", **sizes), "inductor": gpt_step("cuda", **sizes, compile=torch.compile)}
    lazy = gpt_step("lazyplus", **sizes)
    steps["lazyplus"] = lambda: (lazy(), torch_lazyplus.sync())
    for step in steps.values():  # warm-up: compiles, autotuning, kernels
        for _ in range(3):
            step()
    torch.cuda.synchronize()
    times = {b: [] for b in steps}
    for _ in range(rounds):
        for b, step in steps.items():
            times[b].append(gpu_ms(step, repeats=5))
    row = {b: statistics.median(t) for b, t in times.items()}
    ratio = {b: statistics.median(t / e for t, e in zip(times[b], times["eager"])) for b in steps}
    print("gpt2_small_step: " + ", ".join(f"{b} {row[b]:.1f} ms ({ratio[b]:.2f}x)" for b in steps))
    return {"ms": row, "ratio_to_eager": ratio}


if __name__ == "__main__":
    main()
