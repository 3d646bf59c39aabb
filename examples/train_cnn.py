"""A small CNN (conv, batch norm, ReLU, max pooling, linear) trained on lazyplus and on the CPU with
the same seed and the same synthetic 28x28 images: SGD with momentum and a step learning-rate schedule.
Prints both losses, steps per second and how many graphs the steps compiled, also for the step wrapped
in torch_lazyplus.capture_step (replayed without its Python; a new learning rate records it anew).

Run: python examples/train_cnn.py [--steps 50]
"""
import functools

import torch
import torch.nn.functional as F
from torch import nn

import torch_lazyplus  # registers the "lazyplus" device

import side_by_side


def make_model(classes=10):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, classes),
    )


def synthetic_batches(steps, batch, seed):
    """Images whose class is the brightest of ten horizontal bands, so the loss really falls."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        labels = torch.randint(10, (batch,), generator=g)
        images = torch.rand(batch, 1, 28, 28, generator=g) * 0.5
        for i, label in enumerate(labels.tolist()):
            images[i, 0, 2 * label + 4:2 * label + 6] += 0.15
        yield images, labels


def step(model, opt, images, labels):
    """One training step; returns the loss, not yet read (no sync)."""
    loss = F.cross_entropy(model(images), labels)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def trainer(device, steps=50, batch=32, seed=0, dtype=torch.float32, capture=False):
    """A seeded run on `device` with parameters and images in `dtype` (made in float32, so every dtype
    starts from the same values), set up for `steps` steps: returns a function that trains the next
    step and returns its loss. `capture`: the step runs through torch_lazyplus.capture_step."""
    torch.manual_seed(seed)
    model = make_model().to(device, dtype)
    opt = torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.StepLR(opt, step_size=20, gamma=0.5)
    run_step = functools.partial(step, model, opt)
    if capture:
        run_step = torch_lazyplus.capture_step(run_step)
    batches = synthetic_batches(steps, batch, seed)

    def next_step():
        images, labels = next(batches)
        loss = run_step(images.to(device, dtype), labels.to(device)).item()  # the step's only sync
        schedule.step()
        return loss
    return next_step


def train(device, steps=50, times=None, **options):
    """Per-step losses of `trainer(device, steps, **options)`'s run; appends each step's seconds to
    `times` when given."""
    return side_by_side.run_steps(trainer(device, steps, **options), steps, times)


if __name__ == "__main__":
    side_by_side.main(trainer, __doc__.splitlines()[0])
