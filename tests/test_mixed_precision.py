"""Mixed precision and memory-saving training features behave on lazyplus as on the CPU:
torch.autocast(device_type="lazyplus") casts as PyTorch's CPU autocast policy does, GradScaler skips
overflowing steps and adjusts its scale identically, and torch.utils.checkpoint really recomputes."""
import pytest
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

import torch_lazyplus

A, B = torch.randn(8, 16), torch.randn(16, 4)
IMAGE, KERNEL = torch.randn(2, 3, 8, 8), torch.randn(5, 3, 3, 3)
TARGET = torch.randint(0, 4, (8,))

# One op of each CPU autocast policy, plus ops autocast leaves alone: (name, function of device tensors).
CASES = {
    "mm (lower precision)": lambda a, b, **_: a @ b,
    "linear (lower precision)": lambda a, b, **_: F.linear(a, b.t()),
    "conv2d (lower precision)": lambda image, kernel, **_: F.conv2d(image, kernel),
    "sdpa (lower precision)": lambda a, **_: F.scaled_dot_product_attention(a[None], a[None], a[None]),
    "bmm then softmax (runs in its input dtype)": lambda a, **_: torch.bmm(a[None], a.t()[None]).softmax(-1),
    "cross_entropy of bf16 logits (fp32)": lambda a, b, target, **_: F.cross_entropy(a @ b, target),
    "mse_loss (fp32)": lambda a, b, **_: F.mse_loss(a @ b, torch.zeros(8, 4, device=a.device)),
    "prod (fp32)": lambda a, **_: torch.prod(a.to(torch.bfloat16), 1),
    "cat of bf16 and fp32 (promote)": lambda a, b, **_: torch.cat([a @ b, a[:, :4]]),
    "layer_norm (not listed)": lambda a, **_: F.layer_norm(a, (16,)),
    "float64 mm (never cast)": lambda a, b, **_: a.double() @ b.double(),
}


def _run_case(fn, device, dtype):
    inputs = dict(a=A, b=B, image=IMAGE, kernel=KERNEL, target=TARGET)
    with torch.autocast(device_type=device, dtype=dtype):
        return fn(**{k: v.to(device) for k, v in inputs.items()}).cpu()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("case", list(CASES))
def test_autocast_casts_as_the_cpu_policy(case, dtype):
    expected = _run_case(CASES[case], "cpu", dtype)
    actual = _run_case(CASES[case], "lazyplus", dtype)
    assert actual.dtype == expected.dtype
    torch.testing.assert_close(actual, expected)


def test_autocast_off_inside_a_disabled_region():
    with torch.autocast(device_type="lazyplus", dtype=torch.bfloat16):
        with torch.autocast(device_type="lazyplus", enabled=False):
            out = A.to("lazyplus") @ B.to("lazyplus")
    assert out.dtype == torch.float32


def _train_with_scaler(device, dtype, steps=8):
    """Scale history and losses of a run whose huge initial scale overflows float16 for a few steps."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler(device, init_scale=2.0 ** 32, growth_interval=2)
    x, target = A.to(device), TARGET.to(device)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        with torch.autocast(device_type=device, dtype=dtype):
            loss = F.cross_entropy(model(x), target)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        history.append((loss.item(), scaler.get_scale()))
    return history


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_grad_scaler_matches_cpu_without_fallbacks(dtype):
    expected = _train_with_scaler("cpu", dtype)
    actual = _train_with_scaler("lazyplus", dtype)
    torch.testing.assert_close(torch.tensor(actual), torch.tensor(expected), rtol=1e-5, atol=0)
    if dtype == torch.float16:  # the initial scale overflowed: steps were skipped and the scale backed off
        assert expected[0][0] == expected[1][0] and expected[1][1] < 2.0 ** 32
    assert not [k for k in torch_lazyplus.metrics.counters() if k.startswith("aten::")]


def _blocks(x, w):
    for _ in range(4):
        x = torch.tanh(x @ w) * 1.5 + x.sigmoid()
    return x


def _checkpointed_step(device, use_checkpoint):
    torch.manual_seed(0)
    w = (torch.randn(256, 256) * 0.05).to(device).requires_grad_()
    h = torch.randn(512, 256).to(device).requires_grad_()
    for _ in range(6):
        h = checkpoint(_blocks, h, w, use_reentrant=False) if use_checkpoint else _blocks(h, w)
    loss = h.square().mean()
    loss.backward()
    return loss.detach().cpu(), w.grad.cpu()


def test_checkpoint_recomputes_and_lowers_peak_memory():
    expected = _checkpointed_step("cpu", True)
    traced, peak = {}, {}
    for use_checkpoint in (False, True):
        torch_lazyplus.metrics.reset()
        torch.accelerator.reset_peak_memory_stats()
        result = _checkpointed_step("lazyplus", use_checkpoint)
        torch.testing.assert_close(result, expected)
        traced[use_checkpoint] = torch_lazyplus.metrics.counters()["lazy::mm"]
        peak[use_checkpoint] = torch.accelerator.max_memory_allocated()
    # Forward: 24 matmuls; backward: 2 per matmul. Checkpointing records the forward's 24 again, and the
    # backward uses the recomputed values: only the checkpoint boundaries stay alive between the passes.
    assert traced == {False: 72, True: 96}
    assert peak[True] < peak[False] / 2, peak
