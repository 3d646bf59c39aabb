"""What the training examples print: one seeded run on lazyplus and one on the CPU, side by side."""
import argparse

import torch_lazyplus


def steps_per_second(times):
    """The median step rate after five warm-up steps."""
    steady = sorted(times[5:])
    return 1.0 / steady[len(steady) // 2]


def main(train, description):
    """Runs `train(device, steps, times=...)` (which returns the per-step losses) on both devices and
    prints the losses, their largest relative difference, steps per second and the graphs compiled."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()

    torch_lazyplus.metrics.reset()
    lazy_times, cpu_times = [], []
    lazy = train("lazyplus", args.steps, times=lazy_times)
    counters = torch_lazyplus.metrics.counters()
    cpu = train("cpu", args.steps, times=cpu_times)

    print("step  lazyplus loss  cpu loss  relative difference")
    for i, (a, b) in enumerate(zip(lazy, cpu)):
        if i < 5 or i % 10 == 9 or i == len(lazy) - 1:
            print(f"{i:4d}  {a:13.6f}  {b:8.6f}  {abs(a - b) / abs(b):.1e}")
    worst = max(abs(a - b) / abs(b) for a, b in zip(lazy, cpu))
    print(f"largest relative difference over {len(lazy)} steps: {worst:.1e}")
    print(f"steps/s (median of steps 6-{len(lazy)}): lazyplus {steps_per_second(lazy_times):.1f}, "
          f"cpu {steps_per_second(cpu_times):.1f}")
    print(f"first step: lazyplus {lazy_times[0] * 1e3:.0f} ms (tracing and compiling), "
          f"cpu {cpu_times[0] * 1e3:.0f} ms")
    print(f"graphs: {counters.get('UncachedCompile', 0)} compiled, {counters.get('CachedCompile', 0)} "
          f"from the cache, {counters.get('Sync', 0)} syncs for {len(lazy)} steps")
    print("\nlazyplus metrics:\n" + torch_lazyplus.metrics.report())
