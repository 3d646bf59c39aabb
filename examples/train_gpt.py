"""A small GPT-style character language model in plain PyTorch, trained on lazyplus and on the CPU with
the same seed and the same batches: AdamW, gradient clipping and a warm-up + cosine learning-rate
schedule. Prints both losses, steps per second and how many graphs each step compiled and ran, also
for the step wrapped in torch_lazyplus.capture_step (replayed without its Python).

Run: python examples/train_gpt.py [--steps 50]
"""
import functools
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

import torch_lazyplus  # registers the "lazyplus" device

import side_by_side

TEXT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "zen_of_python.txt")


class CausalSelfAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        batch, time_steps, dim = x.shape
        q, k, v = (t.view(batch, time_steps, self.heads, dim // self.heads).transpose(1, 2)
                   for t in self.qkv(x).split(dim, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(batch, time_steps, dim))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, vocab, block_size=32, dim=64, heads=4, layers=2):
        super().__init__()
        self.tokens = nn.Embedding(vocab, dim)
        self.positions = nn.Embedding(block_size, dim)
        self.blocks = nn.Sequential(*(Block(dim, heads) for _ in range(layers)))
        self.ln_f = nn.LayerNorm(dim)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)

    def forward(self, idx):
        positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.tokens(idx) + self.positions(positions)
        # The output layer is the token embedding, used directly: tying by assigning one Parameter to
        # two modules would be undone by .to("lazyplus"), which gives every module its own new Parameter.
        return F.linear(self.ln_f(self.blocks(x)), self.tokens.weight)


def load_text():
    with open(TEXT) as f:
        text = f.read()
    vocab = sorted(set(text))
    return torch.tensor([vocab.index(c) for c in text]), vocab


def warmup_cosine(warmup, total):
    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.45 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
    return factor


def optimizer(model, steps, capturable=False):
    """AdamW with a warm-up + cosine schedule over `steps`. `capturable`: the learning rate and Adam's
    step count live in tensors on the model's device, where a captured step reads their current values
    (a replay repeats the Python numbers it recorded)."""
    lr = torch.tensor(3e-3, device=next(model.parameters()).device) if capturable else 3e-3
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1, capturable=capturable)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(10, steps))


def batch(data, offsets, block_size, device):
    """Inputs and next-character targets of the windows of `data` starting at `offsets`, gathered by
    index: one op each where a slice per window and a stack took 0.4-0.6 ms of every run's step."""
    windows = offsets[:, None] + torch.arange(block_size)
    return data[windows].to(device), data[windows + 1].to(device)


def step(model, opt, x, y):
    """One training step (the learning-rate schedule steps apart); returns the loss, not yet read (no sync)."""
    logits = model(x)
    loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss


def trainer(device, steps=50, batch_size=16, block_size=32, seed=0, dtype=torch.float32, capture=False):
    """A seeded run on `device` with parameters in `dtype` (initialized in float32, so every dtype starts
    from the same values), set up for `steps` steps: returns a function that trains the next step and
    returns its loss. `capture`: the step runs through torch_lazyplus.capture_step."""
    data, vocab = load_text()
    torch.manual_seed(seed)
    model = GPT(len(vocab), block_size).to(device, dtype)
    opt, schedule = optimizer(model, steps, capturable=capture)
    run_step = functools.partial(step, model, opt)
    if capture:
        run_step = torch_lazyplus.capture_step(run_step)
    batches = torch.Generator().manual_seed(seed)  # the same batches on every device

    def next_step():
        offsets = torch.randint(len(data) - block_size - 1, (batch_size,), generator=batches)
        loss = run_step(*batch(data, offsets, block_size, device)).item()  # the step's only sync
        schedule.step()
        return loss
    return next_step


def train(device, steps=50, times=None, on_step=None, **options):
    """Per-step losses of `trainer(device, steps, **options)`'s run; appends each step's seconds to
    `times` and calls `on_step(step number)` after each step when given."""
    return side_by_side.run_steps(trainer(device, steps, **options), steps, times, on_step)


if __name__ == "__main__":
    side_by_side.main(trainer, __doc__.splitlines()[0])
