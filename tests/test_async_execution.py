"""Asynchronous execution: a sync launches its program on the device's stream and returns; storages
hold the program's output buffers while it runs, and only a host read (.cpu(), .item(), printing, a
CPU fallback) waits. Everything a synchronous run promises still holds: the same values, in-place
updates of buffers that programs in flight read or write, errors at the read of an affected tensor.
It is off by default (LAZYPLUS_ASYNC=1 or set_async(True) turns it on; backend.cpp says why). These
tests pin down the behaviours asynchrony could break, under both settings."""
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import torch_lazyplus

DEV = "lazyplus"


@pytest.fixture(params=[True, False], ids=["async", "sync"])
def execution(request):
    before = torch_lazyplus.is_async()
    torch_lazyplus.set_async(request.param)
    yield request.param
    torch_lazyplus.set_async(before)


def train(device, steps, read_loss_every_step):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.Linear(64, 1)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x, y = torch.randn(16, 32).to(device), torch.randn(16, 1).to(device)
    losses = []
    for _ in range(steps):
        loss = F.mse_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if read_loss_every_step or device == "cpu":
            losses.append(loss.item())
        else:
            torch_lazyplus.sync()  # the step's only sync: launches it and returns
            losses.append(loss)
    return [float(v) for v in losses], [p.detach().cpu() for p in model.parameters()]


@pytest.mark.parametrize("read_loss_every_step", [False, True], ids=["sync_each_step", "item_each_step"])
def test_a_training_loop_computes_as_eager(execution, read_loss_every_step):
    eager_losses, eager_params = train("cpu", 8, True)
    losses, params = train(DEV, 8, read_loss_every_step)
    torch.testing.assert_close(losses, eager_losses, rtol=1e-5, atol=1e-6)
    for p, e in zip(params, eager_params):
        torch.testing.assert_close(p, e, rtol=1e-5, atol=1e-6)


def test_in_place_updates_of_a_buffer_in_flight_keep_every_earlier_value(execution):
    """Each sync donates x's buffer to the next program, which overwrites it in place; the clones
    taken before each update read the buffer first, in launch order."""
    x = torch.zeros(1 << 16, device=DEV)
    snapshots = []
    for _ in range(20):
        snapshots.append(x.clone())
        x.mul_(2).add_(1)
        torch_lazyplus.sync()
    want = torch.zeros(1 << 16)
    for s in snapshots:
        torch.testing.assert_close(s.cpu(), want, rtol=0, atol=0)
        want = want * 2 + 1
    torch.testing.assert_close(x.cpu(), want, rtol=0, atol=0)


def test_a_copy_keeps_its_value_when_its_source_is_updated_in_place(execution):
    """A graph whose result is an input unchanged (y.copy_(x)) gives y memory of its own: updating
    either in place later never changes the other."""
    x = torch.ones(4, device=DEV)
    torch_lazyplus.sync()
    y = torch.empty(4, device=DEV)
    y.copy_(x)
    torch_lazyplus.sync()
    y.add_(1)
    torch_lazyplus.sync()
    x.mul_(5)
    torch_lazyplus.sync()
    assert x.tolist() == [5.0] * 4
    assert y.tolist() == [2.0] * 4


def test_a_failed_run_raises_at_the_read_of_each_affected_tensor_only(execution):
    x = torch.ones(3, device=DEV)
    doomed = x.index_select(0, torch.tensor([5], device=DEV))  # recorded here: the error names this line
    line = sys._getframe().f_lineno - 1
    derived = doomed * 2
    unaffected = x * 3
    torch_lazyplus.sync()  # raises nothing
    after = derived + 1  # recording a read of a tensor in flight never waits and never raises
    assert unaffected.tolist() == [3.0] * 3
    for t in (doomed, derived, after):
        with pytest.raises(IndexError, match=f"index out of range in self.*test_async_execution.py:{line}"):
            t.cpu()


@pytest.mark.parametrize("synchronize", [
    torch.lazyplus.synchronize,  # runs the device's pending work, then waits
    lambda: (torch_lazyplus.sync(), torch.accelerator.synchronize()),  # waits for what was launched
], ids=["lazyplus", "accelerator"])
def test_synchronize_waits_for_what_the_device_launched(execution, synchronize):
    torch_lazyplus.metrics.reset()
    a = torch.randn(512, 512, device=DEV)
    b = (a @ a).relu().sum()
    synchronize()
    assert torch_lazyplus._C._counters()["ExecuteTimeNs"] > 0  # the run has finished and counted its time
    assert b.item() == pytest.approx((a.cpu() @ a.cpu()).relu().sum().item(), rel=1e-4)


def test_a_profiled_sync_runs_its_program_inside_the_profile(execution):
    """Under torch.profiler a sync runs its program before it returns, so the profile holds its
    execution; a profile that ended while the stream thread still recorded into it crashed PyTorch's
    profiler (an INTERNAL ASSERT on its event list, or a segfault) in a few of 200 tries."""
    for _ in range(50):
        x = torch.randn(64, 32)
        lazy = (x.to(DEV) * 2 + 1).relu() @ x.t().to(DEV)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            torch_lazyplus.sync()
        ran = {e.name for e in prof.events()}
        assert {"lazyplus::fused_region", "aten::mm"} <= ran, ran
        torch.testing.assert_close(lazy.cpu(), (x * 2 + 1).relu() @ x.t())


@pytest.mark.parametrize("setting,expected", [("0", "False"), ("1", "True"), (None, "False")])
def test_lazyplus_async_sets_the_mode_at_start(setting, expected):
    env = {k: v for k, v in os.environ.items() if k != "LAZYPLUS_ASYNC"}
    if setting is not None:
        env["LAZYPLUS_ASYNC"] = setting
    probe = "import torch_lazyplus; print(torch_lazyplus.is_async())"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected


def test_a_forked_child_computes_while_the_parent_has_programs_launched(execution):
    a = torch.randn(256, 256, device=DEV)
    total = (a @ a).sum()
    torch_lazyplus.sync()
    pid = os.fork()
    if pid == 0:  # the child has none of the parent's threads: its device stream starts afresh
        ok = (torch.ones(4, device=DEV) * 3).tolist() == [3.0] * 4
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert total.item() == pytest.approx((a.cpu() @ a.cpu()).sum().item(), rel=1e-4)
