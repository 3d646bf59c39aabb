"""Python autograd Functions (torch.autograd.Function) run on lazyplus tensors as on CPU tensors: their
forward and backward are recorded lazily, and every ctx feature behaves as eager's."""
import pytest
import torch
from torch.autograd.function import once_differentiable
from torch.testing._internal.autograd_function_db import autograd_function_db
from torch.utils._pytree import tree_flatten

import torch_lazyplus

# Functions whose CPU behaviour relies on `x.cpu()` being `x` itself (a copy on any other device).
BY_DESIGN_CPU_ONLY = {
    "NumpyExpMarkDirtyAutogradFunction": "np.exp(x.cpu().numpy(), out=...) writes into the CPU tensor's memory",
}


def _tensors(tree):
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


def _forward_backward(op, sample, device):
    """The op's outputs and the gradients of its inputs, on the CPU."""
    inp = sample.input.detach().to(device).requires_grad_()
    args = [a.detach().to(device) if isinstance(a, torch.Tensor) else a for a in sample.args]
    out = op.op(inp, *args, **sample.kwargs)
    differentiable = [o for o in _tensors(out) if o.requires_grad]
    grads = torch.autograd.grad(differentiable, [inp], [torch.ones_like(o) for o in differentiable],
                                allow_unused=True)
    return [o.cpu() for o in _tensors(out)], [g.cpu() if g is not None else None for g in grads]


def _db_cases():
    for op in autograd_function_db:
        marks = [pytest.mark.xfail(strict=True, reason=BY_DESIGN_CPU_ONLY[op.name])] \
            if op.name in BY_DESIGN_CPU_ONLY else []
        yield pytest.param(op, id=op.name, marks=marks)


@pytest.mark.parametrize("op", _db_cases())
def test_autograd_function_db_matches_cpu(op):
    samples = list(op.sample_inputs("cpu", torch.float32, requires_grad=True))
    assert samples
    for sample in samples:
        torch.testing.assert_close(_forward_backward(op, sample, "lazyplus"), _forward_backward(op, sample, "cpu"))


class Cube(torch.autograd.Function):
    """setup_context style, with a backward built from differentiable ops (so double backward works)."""

    @staticmethod
    def forward(x):
        return x ** 3

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * 3 * x ** 2


def _on(device, *tensors):
    return [t.detach().to(device).requires_grad_() for t in tensors]


def test_double_backward_matches_cpu():
    x = torch.randn(5)
    results = {}
    for device in ("cpu", "lazyplus"):
        xd, = _on(device, x)
        y = Cube.apply(xd).sum()
        g, = torch.autograd.grad(y, xd, create_graph=True)
        gg, = torch.autograd.grad(g.sum(), xd, create_graph=True)
        ggg, = torch.autograd.grad(gg.sum(), xd)
        results[device] = [t.cpu() for t in (y, g, gg, ggg)]
    torch.testing.assert_close(results["lazyplus"], results["cpu"])
    torch.testing.assert_close(results["lazyplus"][3], torch.full((5,), 6.0))


class ExpInPlace(torch.autograd.Function):
    """mark_dirty: the input is modified in place and returned."""

    @staticmethod
    def forward(ctx, x):
        x.exp_()
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        result, = ctx.saved_tensors
        return grad * result


def test_mark_dirty_modifies_the_input_and_differentiates():
    x = torch.randn(4)
    results = {}
    for device in ("cpu", "lazyplus"):
        leaf, = _on(device, x)
        y = leaf.clone()
        out = ExpInPlace.apply(y)
        assert out is y
        grad, = torch.autograd.grad((out * 2).sum(), leaf)
        results[device] = (y.detach().cpu(), grad.cpu())
    torch.testing.assert_close(results["lazyplus"], results["cpu"])
    torch.testing.assert_close(results["lazyplus"][0], x.exp())


def test_mark_dirty_on_a_leaf_raises_eagers_error():
    messages = []
    for device in ("cpu", "lazyplus"):
        leaf, = _on(device, torch.randn(3))
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad has been used in an in-place") as e:
            ExpInPlace.apply(leaf)
        messages.append(str(e.value))
    assert messages[0] == messages[1]


class SortWithIndices(torch.autograd.Function):
    """mark_non_differentiable, and set_materialize_grads(False): unused gradients arrive as None."""

    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(False)
        values, indices = x.sort()
        ctx.mark_non_differentiable(indices)
        ctx.save_for_backward(indices)
        return values, indices

    @staticmethod
    def backward(ctx, grad_values, grad_indices):
        assert grad_indices is None
        if grad_values is None:
            return None
        indices, = ctx.saved_tensors
        return torch.zeros_like(grad_values).scatter(0, indices, grad_values)


def test_non_differentiable_outputs_and_unmaterialized_grads():
    x = torch.randn(6)
    results = {}
    for device in ("cpu", "lazyplus"):
        xd, = _on(device, x)
        values, indices = SortWithIndices.apply(xd)
        assert not indices.requires_grad and values.requires_grad
        grad, = torch.autograd.grad((values * torch.arange(6.0, device=device)).sum(), xd)
        results[device] = [t.cpu() for t in (values, indices, grad)]
    torch.testing.assert_close(results["lazyplus"], results["cpu"])


class ScaledTanh(torch.autograd.Function):
    """once_differentiable: the backward runs without a graph, so its result cannot be differentiated."""

    @staticmethod
    def forward(ctx, x, scale):
        y = torch.tanh(x) * scale
        ctx.save_for_backward(y)
        ctx.scale = scale
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        y, = ctx.saved_tensors
        return grad * (ctx.scale - y * y / ctx.scale), None


def test_once_differentiable_matches_cpu_and_leaves_no_graph_to_differentiate():
    x = torch.randn(5)
    grads, errors = {}, {}
    for device in ("cpu", "lazyplus"):
        xd, = _on(device, x)
        g, = torch.autograd.grad(ScaledTanh.apply(xd, 2.0).sum(), xd, create_graph=True)
        grads[device] = g.detach().cpu()
        with pytest.raises(RuntimeError, match="does not require grad") as e:
            torch.autograd.grad(g.sum(), xd)
        errors[device] = str(e.value)
    torch.testing.assert_close(grads["lazyplus"], grads["cpu"])
    assert errors["lazyplus"] == errors["cpu"]


class LinearGelu(torch.autograd.Function):
    """A fused layer as users write them: linear then GELU, with a hand-written backward."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        pre = torch.addmm(bias, x, weight.t())
        ctx.save_for_backward(x, weight, pre)
        return torch.nn.functional.gelu(pre)

    @staticmethod
    def backward(ctx, grad):
        x, weight, pre = ctx.saved_tensors
        cdf = 0.5 * (1 + torch.erf(pre / 2 ** 0.5))
        pdf = torch.exp(-0.5 * pre * pre) / (2 * torch.pi) ** 0.5
        grad_pre = grad * (cdf + pre * pdf)
        return grad_pre @ weight, grad_pre.t() @ x, grad_pre.sum(0)


def _train_with_function(device, steps):
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(16, 8).to(device) * 0.3)
    bias = torch.nn.Parameter(torch.zeros(16, device=device))
    head = torch.nn.Linear(16, 1).to(device)
    opt = torch.optim.SGD([weight, bias, *head.parameters()], lr=0.05)
    x, target = torch.randn(32, 8).to(device), torch.randn(32, 1).to(device)
    losses, syncs = [], []
    for _ in range(steps):
        before = torch_lazyplus.metrics.counters().get("Sync", 0)
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(head(LinearGelu.apply(x, weight, bias)), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        syncs.append(torch_lazyplus.metrics.counters().get("Sync", 0) - before)
    return losses, syncs


def test_training_through_a_function_is_one_graph_per_step():
    cpu_losses, _ = _train_with_function("cpu", 6)
    torch_lazyplus.metrics.reset()
    losses, syncs = _train_with_function("lazyplus", 6)
    torch.testing.assert_close(losses, cpu_losses, rtol=1e-5, atol=1e-6)
    # loss.item() is each step's only sync: forward, backward and the SGD update form one graph.
    assert syncs == [1] * 6
    counters = torch_lazyplus.metrics.counters()
    assert not [k for k in counters if k.startswith("aten::")], counters
    before = counters.get("UncachedCompile", 0)
    _train_with_function("lazyplus", 6)
    assert torch_lazyplus.metrics.counters().get("UncachedCompile", 0) == before
