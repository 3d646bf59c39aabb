"""When a computation fails at run time (an error only the data can reveal, such as an index out of
range), eager raises at the op. A lazy backend raises later, so it keeps these promises instead:

- the error is eager's (same class, same message), raised by the first host read (.cpu(), .item(),
  printing, a CPU fallback) of a tensor that depends on the failed op, and names the user's line that
  recorded that op; recording an op on such a tensor raises nothing (its result fails the same way);
- a failed tensor raises the same error every time it is read;
- tensors that do not depend on the failure compute normally, and an in-place op is applied once;
- a sync itself raises nothing: it has no tensor to blame.
"""
import gc
import re

import pytest
import torch
import torch.nn.functional as F

import torch_lazyplus

DEV = "lazyplus"


def eager_error(fn, *inputs):
    with pytest.raises(Exception) as info:
        fn(*inputs)
    return info.type, str(info.value)


# Each op fails on CPU at the op; on lazyplus at the first read of its result.
OUT_OF_RANGE = {
    "getitem": lambda x, i: x[i],
    "index_select": lambda x, i: x.index_select(0, i),
    "gather": lambda x, i: x.gather(0, i),
    "embedding": lambda x, i: F.embedding(i, x.reshape(3, 1)),
    "scatter_": lambda x, i: x.clone().scatter_(0, i, 1.0),
    "index_put_": lambda x, i: x.clone().index_put_((i,), torch.ones((), device=x.device)),
}


@pytest.mark.parametrize("op", OUT_OF_RANGE, ids=list(OUT_OF_RANGE))
def test_data_dependent_error_is_eagers_raised_at_the_first_read_naming_the_line(op):
    fn = OUT_OF_RANGE[op]
    x, index = torch.ones(3), torch.tensor([7])
    eager_class, eager_message = eager_error(fn, x, index)
    result = fn(x.to(DEV), index.to(DEV))  # records; nothing raises yet
    recorded_at = fn.__code__.co_firstlineno  # the user's line of the failing op: the lambda's
    for _ in range(2):  # every read raises the same error
        with pytest.raises(eager_class) as info:
            result.cpu()
        message = str(info.value)
        assert eager_message.splitlines()[0] in message
        assert f"test_failures.py:{recorded_at}" in message, message
        assert "Exception raised from" not in message  # no C++ backtrace


def test_an_unrelated_read_succeeds_while_another_tensor_is_doomed():
    doomed = torch.ones(3, device=DEV).index_select(0, torch.tensor([5], device=DEV))
    assert torch.ones(3, device=DEV).sum().item() == 3.0
    torch_lazyplus.sync()  # raises nothing: no tensor is read
    with pytest.raises(IndexError, match="index out of range in self"):
        doomed.cpu()
    # An op reading a failed tensor records (whether a run in flight has failed yet is not known when
    # it records) and its result raises the same error when read.
    derived = doomed + 1
    with pytest.raises(IndexError, match="index out of range in self"):
        derived.cpu()


@pytest.mark.parametrize("n", [3, 65536])
def test_a_failed_run_overwrites_no_input(n):
    """p's buffer is donated to the in-place updates; the index fails after `add_` already ran. The
    values of p come out as eager's, once: add_ is not applied twice."""
    p = torch.zeros(n).to(DEV)
    torch_lazyplus.sync()
    p.add_(1)
    q = p[torch.tensor([n + 5]).to(DEV)]
    p.mul_(3)
    with pytest.raises(IndexError, match=f"index {n + 5} is out of bounds"):
        q.cpu()
    for _ in range(2):
        assert torch.equal(p.cpu(), torch.full((n,), 3.0))


def test_a_training_step_whose_metric_fails_keeps_its_loss_and_parameters():
    """An out-of-range read in a metric fails that metric; the step's loss and its in-place optimizer
    updates (donated memory) come out as on the CPU."""
    def run(device):
        torch.manual_seed(0)
        model = torch.nn.Linear(8, 4).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x, y = torch.randn(16, 8).to(device), torch.randint(4, (16,)).to(device)
        for _ in range(3):
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            opt.step()
            opt.zero_grad()
            metric = logits[torch.tensor([99]).to(device)]  # out of range
            if device == "cpu":
                return None
            with pytest.raises(IndexError):
                metric.cpu()
            loss.item()
        return [p.detach().cpu() for p in model.parameters()]

    def run_clean(device, steps):
        torch.manual_seed(0)
        model = torch.nn.Linear(8, 4).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x, y = torch.randn(16, 8).to(device), torch.randint(4, (16,)).to(device)
        for _ in range(steps):
            F.cross_entropy(model(x), y).backward()
            opt.step()
            opt.zero_grad()
        return [p.detach().cpu() for p in model.parameters()]

    for lazy, cpu in zip(run(DEV), run_clean("cpu", 3)):
        torch.testing.assert_close(lazy, cpu, rtol=1e-6, atol=0)


def test_a_failed_loss_fails_the_parameters_updated_from_it():
    """A target out of range fails the loss, so the gradients and the parameters updated from them
    fail too (eager would have stopped at the loss); every read says why."""
    model = torch.nn.Linear(4, 3).to(DEV)
    loss = F.cross_entropy(model(torch.ones(2, 4, device=DEV)), torch.tensor([0, 9], device=DEV))
    loss.backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    eager_class, eager_message = eager_error(F.cross_entropy, torch.ones(2, 3), torch.tensor([0, 9]))
    for read in (loss.item, model.weight.cpu):
        with pytest.raises(eager_class, match=re.escape(eager_message.splitlines()[0])):
            read()


def test_a_failing_lapack_call_raises_eagers_error_at_the_op():
    """linalg ops check LAPACK's info before returning, which needs the data: lazyplus runs the op
    there (a sync) and raises what eager raises, at the same line."""
    not_positive_definite = torch.tensor([[1.0, 2.0], [2.0, 1.0]])
    for fn in (torch.linalg.cholesky, lambda a: torch.linalg.inv(a - a),
               lambda a: torch.linalg.solve(a - a, torch.ones_like(a[0]))):
        eager_class, eager_message = eager_error(fn, not_positive_definite)
        with pytest.raises(eager_class) as info:
            fn(not_positive_definite.to(DEV))
        assert str(info.value) == eager_message


def test_a_too_large_allocation_raises_out_of_memory_at_the_op_and_loses_nothing():
    gc.collect()  # tensors of earlier tests that only a collection frees (held by tracebacks) go now, not mid-test
    kept = torch.arange(3.0, device=DEV) * 2
    allocated = torch.accelerator.memory_allocated()
    for make in (lambda: torch.empty(2**45, device=DEV), lambda: torch.ones(1, device=DEV).expand(2**45).contiguous()):
        with pytest.raises(torch.OutOfMemoryError, match="tried to allocate 140737488355328 bytes"):
            make()
    assert torch.accelerator.memory_allocated() == allocated  # a failed allocation is not counted
    assert kept.cpu().tolist() == [0.0, 2.0, 4.0]
