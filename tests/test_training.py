"""Training on lazyplus gives the CPU's losses and settles into one cached graph per step."""
import os
import sys

import pytest
import torch

import torch_lazyplus

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import side_by_side  # noqa: E402
import train_cnn  # noqa: E402
import train_gpt  # noqa: E402
from train_mlp import train  # noqa: E402


pytestmark = pytest.mark.usefixtures("each_lowering")  # every training test runs under both lowerings


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


class TinyTransformer(torch.nn.Module):
    """Embedding, one pre-norm encoder layer (attention, GELU MLP, layer norms) and a linear head."""

    def __init__(self, vocab=17, dim=32, heads=4):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, dim)
        self.layer = torch.nn.TransformerEncoderLayer(dim, heads, dim_feedforward=64, dropout=0.0,
                                                      activation="gelu", batch_first=True, norm_first=True)
        self.head = torch.nn.Linear(dim, vocab)

    def forward(self, tokens):
        causal = torch.nn.Transformer.generate_square_subsequent_mask(tokens.shape[1], device=tokens.device)
        return self.head(self.layer(self.embed(tokens), src_mask=causal, is_causal=True))


def train_transformer(device, steps):
    torch.manual_seed(0)
    model = TinyTransformer().to(device)
    tokens = torch.randint(0, 17, (4, 12)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        logits = model(tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 17), tokens[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_transformer_losses_match_cpu():
    lazy = train_transformer("lazyplus", steps=8)
    cpu = train_transformer("cpu", steps=8)
    torch.testing.assert_close(torch.tensor(lazy), torch.tensor(cpu), rtol=1e-5, atol=0)


def float32_noise(example, cpu_losses):
    """Eager float32's own rounding error per step: its distance from a float64 run of the same
    example, as a running maximum of the relative error (two float32 runs that round differently
    drift apart by about this much, and the gap grows as training amplifies it)."""
    exact = torch.tensor(example.train("cpu", steps=len(cpu_losses), dtype=torch.float64), dtype=torch.float64)
    relative = (torch.tensor(cpu_losses, dtype=torch.float64) - exact).abs() / exact.abs()
    return torch.cummax(relative, 0).values


@pytest.mark.parametrize("example", [train_gpt, train_cnn], ids=["gpt", "cnn"])
def test_examples_match_cpu_for_50_steps_with_one_graph_per_step(example):
    """The README's demos: 50 steps on lazyplus and on the CPU from one seed. The first 5 steps agree
    to 1e-6 relative; later steps stay within 4x float32's own rounding error (measured against a
    float64 run), however the loss falls. Step 1 compiles one graph and step 2 another (the optimizer
    state then exists); every later step reuses step 2's graph and syncs once, at loss.item()."""
    torch_lazyplus._C._clear_compile_cache()
    lazy = example.train("lazyplus", steps=50)
    counters = torch_lazyplus.metrics.counters()
    cpu = example.train("cpu", steps=50)
    torch.testing.assert_close(torch.tensor(lazy[:5]), torch.tensor(cpu[:5]), rtol=1e-6, atol=0)
    gap = (torch.tensor(lazy, dtype=torch.float64) - torch.tensor(cpu, dtype=torch.float64)).abs()
    bound = torch.clamp(4 * float32_noise(example, cpu), min=1e-6) * torch.tensor(cpu, dtype=torch.float64).abs()
    assert (gap <= bound).all(), [(i, g.item(), b.item()) for i, (g, b) in enumerate(zip(gap, bound)) if g > b]
    assert counters["UncachedCompile"] == 2 and counters["CachedCompile"] == 48, counters
    assert counters["Sync"] == 50 and counters["Sync::item"] == 50, counters
    assert not [k for k in counters if k.startswith("aten::")], counters


def test_the_demos_train_their_runs_a_step_each_in_turn_and_count_the_plain_runs_graphs():
    """The demos time their three runs side by side, a step of each in turn with the order rotating
    (a shared machine's speed drifts), and print the graphs of the plain lazyplus run alone."""
    ran = []
    x = torch.ones(8).to("lazyplus")

    def run(name, op):
        def next_step():
            ran.append(name)
            return op(x).sum().item()
        return next_step
    runs = {"lazyplus": run("lazyplus", lambda t: t + 1), "captured step": run("captured step", lambda t: t * 3),
            "cpu": run("cpu", lambda t: t.cpu() * 2)}
    losses, times, graphs = side_by_side.interleaved(runs, 3)
    assert ran == ["lazyplus", "captured step", "cpu", "captured step", "cpu", "lazyplus",
                   "cpu", "lazyplus", "captured step"]
    assert losses == {"lazyplus": [16.0] * 3, "captured step": [24.0] * 3, "cpu": [16.0] * 3}
    assert [len(t) for t in times.values()] == [3, 3, 3] and min(min(t) for t in times.values()) > 0
    assert graphs["Sync"] == 3 and graphs["UncachedCompile"] + graphs["CachedCompile"] == 3, graphs


def train_lstm(device, steps):
    """A 2-layer LSTM (oneDNN layers) and a GRU cell (a fused cell) over 10 time steps, Adam."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(8, 16, num_layers=2, batch_first=True).to(device)
    cell = torch.nn.GRUCell(16, 16).to(device)
    head = torch.nn.Linear(16, 1).to(device)
    params = [*lstm.parameters(), *cell.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)
    x, target = torch.randn(4, 10, 8).to(device), torch.randn(4, 1).to(device)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        out, (h, _) = lstm(x)
        loss = torch.nn.functional.mse_loss(head(cell(out[:, -1], h[-1])), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_rnn_training_matches_cpu_in_one_graph_per_step():
    torch_lazyplus._C._clear_compile_cache()
    lazy = train_lstm("lazyplus", steps=6)
    counters = torch_lazyplus.metrics.counters()
    torch.testing.assert_close(torch.tensor(lazy), torch.tensor(train_lstm("cpu", steps=6)), rtol=1e-5, atol=0)
    assert counters["UncachedCompile"] == 2 and counters["Sync"] == 6, counters
    assert not [k for k in counters if k.startswith("aten::")], counters


@pytest.mark.skipif(torch_lazyplus.target() != "cpu", reason="the CPU target's programs run ATen kernels on host memory")
def test_a_steady_convolutional_step_takes_no_fresh_pages():
    """The memory of ATen's kernels in a program (convolutions, batch norm and their backward) comes from
    the host pool, reused step after step: glibc gave a ResNet-style step thousands of fresh pages (page
    faults) each time. Counted over steady steps, after warm-up."""
    import resource

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1, bias=False), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 32, 3, padding=1, bias=False), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 10)).to("lazyplus")
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = torch.randn(16, 3, 32, 32).to("lazyplus"), torch.randint(10, (16,)).to("lazyplus")

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(5):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        step()
    faults_per_step = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10
    assert faults_per_step < 50, faults_per_step  # 2 MiB activations: 512 pages each when fresh
