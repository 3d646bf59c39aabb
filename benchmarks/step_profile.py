"""Where a training step of one of models.py's models goes, per backend: torch.profiler over steady
steps, each step's time split into

  floor    the GEMM, convolution and attention kernels (models.py's GEMM floor, with lazyplus's own
           attention and convolution kernels),
  kernels  every other kernel: lazyplus's fused regions and own kernels, the ATen ops its programs
           run; for eager, its other ATen ops (dispatch included),
  program  lazyplus's program around its kernels (the `lazyplus::execute` range less the kernels in it),
  rest     the step's time less the above: Python, autograd, dispatch, lazyplus's recording, replay.

and the kernels that took longest, with their operands' shapes. Times are the profiled steps' (the
profiler adds its cost to every op); each backend runs in a process of its own, one after the other.
Ratios between backends come from models.py, which interleaves them.

Run: python benchmarks/step_profile.py demo_gpt [--backends eager,lazyplus,lazyplus_capture] [--steps 30]
"""
import argparse
import collections
import multiprocessing
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backends import backend_named  # noqa: E402
from models import GEMM_KERNELS, MODELS, platform_line, timed_steps  # noqa: E402

FLOOR = GEMM_KERNELS | {"lazyplus::SmallAttention", "lazyplus::ChannelsLastConvolution",
                        "lazyplus::ChannelsLastConvolutionBackward"}
EXECUTE = "lazyplus::execute"


def is_kernel(event, in_program):
    """A kernel's event: a floor kernel, one of lazyplus's own, or an ATen op a program runs."""
    return event.name in FLOOR or (event.name.startswith("lazyplus::") and event.name != EXECUTE) or in_program


def split(roots, eager_ops):
    """Microseconds by category over the event trees `roots`, and per kernel (name, shapes) its times.
    `eager_ops`: ATen ops outside a program are eager's kernels (else lazyplus's recording: rest)."""
    totals, kernels = collections.Counter(), collections.defaultdict(list)

    def visit(event, in_program):
        if is_kernel(event, in_program):
            totals["floor" if event.name in FLOOR else "kernels"] += event.cpu_time_total
            kernels[(event.name, str(event.input_shapes))].append(event.cpu_time_total)
            return
        if event.name == EXECUTE:
            totals["program"] += event.self_cpu_time_total
        elif eager_ops and event.name.startswith("aten::"):
            totals["kernels"] += event.self_cpu_time_total
        for child in event.cpu_children:
            visit(child, in_program or event.name == EXECUTE)

    for root in roots:
        visit(root, False)
    return totals, kernels


def profile_backend(name, backend_name, steps, top):
    """One backend's profile of `steps` steady steps of model `name`, per step, in milliseconds."""
    from torch.profiler import ProfilerActivity, profile

    backend = backend_named(backend_name)
    step = MODELS[name][0](backend)
    timed_steps(backend, step, 4)  # compiles, warms caches and pools; a captured step replays from call 4
    unprofiled = timed_steps(backend, step, steps)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        start = time.perf_counter()
        timed_steps(backend, step, steps)
        wall = (time.perf_counter() - start) * 1e6
    roots = [e for e in prof.events() if e.cpu_parent is None]
    totals, kernels = split(roots, eager_ops=backend_name == "eager")
    per_step = {c: totals[c] / steps / 1e3 for c in ("floor", "kernels", "program")}
    per_step["rest"] = wall / steps / 1e3 - sum(per_step.values())
    longest = sorted(kernels.items(), key=lambda kv: -sum(kv[1]))[:top]
    return {"step_ms": unprofiled * 1e3, "profiled_step_ms": wall / steps / 1e3, "split_ms": per_step,
            "kernels": [(n, s, len(t) / steps, sum(t) / steps) for (n, s), t in longest]}


def print_profile(backend_name, p):
    split_ms = p["split_ms"]
    parts = " · ".join(f"{c} {ms:.2f}" for c, ms in split_ms.items())
    print(f"\n{backend_name}: {p['step_ms']:.2f} ms a step, {p['profiled_step_ms']:.2f} profiled ({parts})")
    print(f"  {'µs/step':>8} {'calls':>5}  kernel  operand shapes")
    for name, shapes, calls, us in p["kernels"]:
        print(f"  {us:8.1f} {calls:5.1f}  {name}  {shapes[:110]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=list(MODELS))
    parser.add_argument("--backends", default="eager,lazyplus,lazyplus_capture")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    print(f"{MODELS[args.model][2]}; {platform_line()}")
    context = multiprocessing.get_context("spawn")
    for b in args.backends.split(","):
        with context.Pool(1) as pool:
            print_profile(b, pool.apply(profile_backend, (args.model, b, args.steps, args.top)))


if __name__ == "__main__":
    main()
