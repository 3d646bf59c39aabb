"""What the training examples print: one seeded run on lazyplus and one on the CPU, side by side."""
import argparse

import torch_lazyplus


def steps_per_second(times):
    """The median step rate after five warm-up steps."""
    steady = sorted(times[5:])
    return 1.0 / steady[len(steady) // 2]


def main(train, description):
    """Runs `train(device, steps, times=...)` (which returns the per-step losses) on lazyplus, on lazyplus
    with `capture=True` (the step through torch_lazyplus.capture_step) and on the CPU, and prints the
    losses, their largest relative difference, steps per second and the graphs compiled."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()

    torch_lazyplus.metrics.reset()
    lazy_times, captured_times, cpu_times = [], [], []
    lazy = train("lazyplus", args.steps, times=lazy_times)
    counters = torch_lazyplus.metrics.counters()
    captured = train("lazyplus", args.steps, times=captured_times, capture=True)
    replays = torch_lazyplus.metrics.counters().get("StepReplays", 0)
    cpu = train("cpu", args.steps, times=cpu_times)

    print("step  lazyplus loss  captured step loss  cpu loss  relative difference (lazyplus, captured)")
    for i, (a, c, b) in enumerate(zip(lazy, captured, cpu)):
        if i < 5 or i % 10 == 9 or i == len(lazy) - 1:
            print(f"{i:4d}  {a:13.6f}  {c:18.6f}  {b:8.6f}  {abs(a - b) / abs(b):.1e}, {abs(c - b) / abs(b):.1e}")
    for name, losses in (("lazyplus", lazy), ("captured step", captured)):
        worst = max(abs(a - b) / abs(b) for a, b in zip(losses, cpu))
        print(f"largest relative difference from the cpu over {len(lazy)} steps, {name}: {worst:.1e}")
    print(f"steps/s (median of steps 6-{len(lazy)}): lazyplus {steps_per_second(lazy_times):.1f}, "
          f"lazyplus with capture_step {steps_per_second(captured_times):.1f} ({replays} of {len(lazy)} steps "
          f"replayed), cpu {steps_per_second(cpu_times):.1f}")
    print(f"first step: lazyplus {lazy_times[0] * 1e3:.0f} ms (tracing and compiling), "
          f"cpu {cpu_times[0] * 1e3:.0f} ms")
    print(f"graphs (lazyplus): {counters.get('UncachedCompile', 0)} compiled, {counters.get('CachedCompile', 0)} "
          f"from the cache, {counters.get('Sync', 0)} syncs for {len(lazy)} steps")
    print("\nlazyplus metrics (both runs):\n" + torch_lazyplus.metrics.report())
