"""Training on lazyplus gives the CPU's losses and settles into one cached graph per step."""
import os
import sys

import pytest
import torch

import torch_lazyplus

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
from train_mlp import train  # noqa: E402


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_mlp_losses_match_cpu(optimizer):
    lazy = train("lazyplus", steps=20, optimizer=optimizer)
    cpu = train("cpu", steps=20, optimizer=optimizer)
    torch.testing.assert_close(torch.tensor(lazy), torch.tensor(cpu), rtol=1e-5, atol=0)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_new_graphs_only_in_first_two_steps(optimizer):
    compiles = []
    for steps in range(1, 6):
        torch_lazyplus.metrics.reset()
        torch_lazyplus._C._clear_compile_cache()
        train("lazyplus", steps=steps, optimizer=optimizer)
        compiles.append(torch_lazyplus.metrics.counters()["UncachedCompile"])
    # Steps 3.. reuse the graphs of step 2: the compile count stops growing after step 2.
    assert compiles[2] == compiles[3] == compiles[4], compiles
    assert torch_lazyplus.metrics.counters().get("aten::cross_entropy", 0) == 0
