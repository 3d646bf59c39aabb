"""The workloads of the fused-lowering issue. Each builds its inputs on the CPU and returns a `step`
that a backend runs: `make(backend) -> step()`."""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from train_gpt import GPT  # noqa: E402


def chain(x):
    return ((x * 2 + 1).relu() * x).sigmoid() + x.tanh()


def ln_gelu_primitives(x, w, b):
    mean = x.mean(-1, keepdim=True)
    centered = x - mean
    var = centered.pow(2).mean(-1, keepdim=True)
    y = centered * torch.rsqrt(var + 1e-5) * w + b
    return y * 0.5 * (1 + torch.erf(y * 0.7071067811865476))


def _elementwise(fn, *shapes):
    def make(backend):
        torch.manual_seed(0)
        inputs = [backend.to(torch.randn(*s)) for s in shapes]
        compiled = backend.wrap(fn)

        def step():
            out = compiled(*inputs)
            backend.sync()
            return out

        return step

    return make


def mlp_train_step(to):
    """An MLP training step (3 x Linear(1024, 1024) + ReLU, batch 256, MSE, SGD); `to` moves a module or
    tensor to the device."""
    torch.manual_seed(0)
    layers = []
    for i in range(3):
        layers += [torch.nn.Linear(1024, 1024)] + ([torch.nn.ReLU()] if i < 2 else [])
    model = to(torch.nn.Sequential(*layers))
    x, target = to(torch.randn(256, 1024)), to(torch.randn(256, 1024))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), target)
        loss.backward()
        opt.step()
        return loss

    return train_step


def gpt_step(device, vocab, block_size, dim, heads, layers, batch, compile=lambda m: m, capturable=False):
    """A training step of the README demo's GPT (examples/train_gpt.py) at the given sizes: AdamW and
    gradient clipping; `compile` wraps the model (torch.compile for inductor)."""
    torch.manual_seed(0)
    model = GPT(vocab, block_size, dim=dim, heads=heads, layers=layers).to(device)
    forward = compile(model)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, capturable=capturable)
    x = torch.randint(vocab, (batch, block_size)).to(device)
    y = torch.randint(vocab, (batch, block_size)).to(device)

    def step():
        loss = F.cross_entropy(forward(x).view(-1, vocab), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    return step


def _mlp_step(backend):
    compiled = backend.wrap(mlp_train_step(backend.to))

    def step():
        loss = compiled()
        backend.sync()
        return loss

    return step


N = 4096
WORKLOADS = {
    "chain_16M": _elementwise(chain, (16 * 1024 * 1024,)),
    "softmax_4096x4096": _elementwise(lambda x: torch.softmax(x, -1), (N, N)),
    "layer_norm_4096x4096": _elementwise(lambda x: F.layer_norm(x, (N,)), (N, N)),
    "gelu_4096x4096": _elementwise(F.gelu, (N, N)),
    "ln_gelu_primitives_4096x4096": _elementwise(ln_gelu_primitives, (N, N), (N,), (N,)),
    "mlp_train_step": _mlp_step,
}
