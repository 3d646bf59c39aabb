"""What the training examples print: seeded runs on lazyplus, on lazyplus with the step captured and on
the CPU, trained side by side."""
import argparse
import statistics
import time

import torch_lazyplus

# What the plain lazyplus run's steps compiled, took from the cache and synced.
GRAPH_COUNTERS = ("UncachedCompile", "CachedCompile", "Sync")


def timed(next_step, times):
    """`next_step()`, its seconds appended to `times` when given."""
    start = time.perf_counter()
    result = next_step()
    if times is not None:
        times.append(time.perf_counter() - start)
    return result


def run_steps(next_step, steps, times=None, on_step=None):
    """The losses of `steps` calls of `next_step`; appends each call's seconds to `times` and calls
    `on_step(step number)` after each when given."""
    losses = []
    for number in range(1, steps + 1):
        losses.append(timed(next_step, times))
        if on_step is not None:
            on_step(number)
    return losses


def steps_per_second(times):
    """The median step rate after five warm-up steps."""
    return 1.0 / statistics.median(times[5:])


def step_and_sync(next_step):
    """`next_step()`, and what it left pending (a captured step's scheduler setting its learning-rate
    tensor) run too, so that another run's step does not run it."""
    loss = next_step()
    torch_lazyplus.sync()
    return loss


def interleaved(runs, steps):
    """Losses and step times of `runs` (name -> a function training its next step), one step of each in
    turn, the order rotating: the machine's speed, which drifts over seconds on a shared host, then
    hits every run alike. Also the graph counters of the run named "lazyplus"'s steps alone."""
    names = list(runs)
    losses, times = {n: [] for n in names}, {n: [] for n in names}
    graphs = dict.fromkeys(GRAPH_COUNTERS, 0)
    for i in range(steps):
        for name in names[i % len(names):] + names[:i % len(names)]:
            before = torch_lazyplus.metrics.counters()
            losses[name].append(timed(lambda: step_and_sync(runs[name]), times[name]))
            after = torch_lazyplus.metrics.counters()
            if name == "lazyplus":
                for key in GRAPH_COUNTERS:
                    graphs[key] += after.get(key, 0) - before.get(key, 0)
    return losses, times, graphs


def main(trainer, description):
    """Trains `trainer(device, steps, capture=...)`'s runs (each a function that trains its next step and
    returns the loss) side by side: on lazyplus, on lazyplus with the step through
    torch_lazyplus.capture_step and on the CPU. Prints the losses, their largest relative difference,
    steps per second, each lazyplus run's speed against the CPU's (the median of the per-round ratios
    of step times after warm-up) and the graphs the plain run compiled."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()

    torch_lazyplus.metrics.reset()
    runs = {"lazyplus": trainer("lazyplus", args.steps), "captured step": trainer("lazyplus", args.steps, capture=True),
            "cpu": trainer("cpu", args.steps)}
    losses, times, graphs = interleaved(runs, args.steps)
    replays = torch_lazyplus.metrics.counters().get("StepReplays", 0)
    lazy, captured, cpu = losses["lazyplus"], losses["captured step"], losses["cpu"]

    print("step  lazyplus loss  captured step loss  cpu loss  relative difference (lazyplus, captured)")
    for i, (a, c, b) in enumerate(zip(lazy, captured, cpu)):
        if i < 5 or i % 10 == 9 or i == len(lazy) - 1:
            print(f"{i:4d}  {a:13.6f}  {c:18.6f}  {b:8.6f}  {abs(a - b) / abs(b):.1e}, {abs(c - b) / abs(b):.1e}")
    for name in ("lazyplus", "captured step"):
        worst = max(abs(a - b) / abs(b) for a, b in zip(losses[name], cpu))
        print(f"largest relative difference from the cpu over {len(lazy)} steps, {name}: {worst:.1e}")
    speedup = {name: statistics.median(c / t for c, t in zip(times["cpu"][5:], times[name][5:]))
               for name in ("lazyplus", "captured step")}
    print(f"steps/s (median of steps 6-{len(lazy)}, the three runs taking turns): lazyplus "
          f"{steps_per_second(times['lazyplus']):.1f}, lazyplus with capture_step "
          f"{steps_per_second(times['captured step']):.1f} ({replays} of {len(lazy)} steps replayed), "
          f"cpu {steps_per_second(times['cpu']):.1f}")
    print(f"against the cpu (median of the per-round ratios): lazyplus {speedup['lazyplus']:.2f}x, "
          f"with capture_step {speedup['captured step']:.2f}x")
    print(f"first step: lazyplus {times['lazyplus'][0] * 1e3:.0f} ms (tracing and compiling), "
          f"cpu {times['cpu'][0] * 1e3:.0f} ms")
    print(f"graphs (lazyplus): {graphs['UncachedCompile']} compiled, {graphs['CachedCompile']} "
          f"from the cache, {graphs['Sync']} syncs for {len(lazy)} steps")
    print("\nlazyplus metrics (both runs):\n" + torch_lazyplus.metrics.report())
