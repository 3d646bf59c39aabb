"""Trains a small MLP on lazyplus and on the CPU with the same seed and prints both losses, then the
backend's metrics. Run: python examples/train_mlp.py"""
import time

import torch

import torch_lazyplus


def make_model():
    return torch.nn.Sequential(
        torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.GELU(), torch.nn.Linear(64, 10)
    )


def train(device, steps=20, optimizer="adamw", seed=0):
    """Returns the per-step losses of a seeded training run on `device`."""
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
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(data), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())  # a sync point: one graph per step
    return losses


def main():
    torch_lazyplus.metrics.reset()
    start = time.perf_counter()
    lazy = train("lazyplus")
    lazy_s = time.perf_counter() - start
    start = time.perf_counter()
    cpu = train("cpu")
    cpu_s = time.perf_counter() - start
    print("step  lazyplus loss  cpu loss")
    for i, (a, b) in enumerate(zip(lazy, cpu)):
        print(f"{i:4d}  {a:13.6f}  {b:8.6f}")
    print(f"\n20 steps: lazyplus {lazy_s:.2f}s, cpu {cpu_s:.2f}s (reference lowering: one ATen call per node)")
    print("\nlazyplus metrics:\n" + torch_lazyplus.metrics.report())


if __name__ == "__main__":
    main()
