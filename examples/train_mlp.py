"""Trains a small MLP on lazyplus and on the CPU with the same seed and prints both losses, then the
backend's metrics. Run: python examples/train_mlp.py"""
import statistics
import time

import torch

import torch_lazyplus


def make_model():
    return torch.nn.Sequential(
        torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.GELU(), torch.nn.Linear(64, 10)
    )


def train(device, steps=20, optimizer="adamw", seed=0, times=None):
    """Returns the per-step losses of a seeded training run on `device` (and appends each step's
    seconds to `times` when given)."""
    torch.manual_seed(seed)
    model = make_model()
    data = torch.randn(64, 32)
    target = torch.randint(0, 10, (64,))
    model.to(device)
    data, target = data.to(device), target.to(device)
    opt = (torch.optim.AdamW(model.parameters(), lr=1e-2) if optimizer == "adamw"
           else torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    losses = []
    for _ in range(steps):
        start = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(data), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())  # a sync point: one graph per step
        if times is not None:
            times.append(time.perf_counter() - start)
    return losses


def main():
    torch_lazyplus.metrics.reset()
    lazy_times, cpu_times = [], []
    lazy = train("lazyplus", times=lazy_times)
    cpu = train("cpu", times=cpu_times)
    print("step  lazyplus loss  cpu loss")
    for i, (a, b) in enumerate(zip(lazy, cpu)):
        print(f"{i:4d}  {a:13.6f}  {b:8.6f}")
    steady = lambda times: statistics.median(times[2:]) * 1e3
    print(f"\nlowering: {torch_lazyplus.lowering()} ({torch_lazyplus.debug.tile_isa()} tile interpreter)")
    print(f"first step: lazyplus {lazy_times[0] * 1e3:.1f} ms (includes one-time start-up and compiling), "
          f"cpu {cpu_times[0] * 1e3:.1f} ms")
    print(f"steady step (median of steps 3-{len(lazy)}): lazyplus {steady(lazy_times):.2f} ms, "
          f"cpu {steady(cpu_times):.2f} ms")
    print("(a model this small is all per-op overhead; benchmarks/bench.py measures large workloads)")
    print("\nlazyplus metrics:\n" + torch_lazyplus.metrics.report())


if __name__ == "__main__":
    main()
