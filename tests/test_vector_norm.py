"""The 2-norm of a whole float32 tensor (what gradient clipping takes of every gradient) runs lazyplus's own
sum of squares: 16-term float32 runs added in float64. Not eager's bits: each norm is held to the error
bound of that sum (4 eps, relative, after the square root). Other orders, dims, dtypes and layouts run
ATen's reduction, as eager does. A stack of such norms (gradient clipping stacks them to take their norm)
is one step computing each into its row."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

import torch_lazyplus
from torch_lazyplus import metrics

CPU_TARGET = torch_lazyplus.target() == "cpu"
EPS = torch.finfo(torch.float32).eps


def kernel_calls():
    return metrics.counters().get("VectorNormCalls", 0)


def stacked_calls():
    return metrics.counters().get("StackedVectorNormsCalls", 0)


def assert_within_bound(x, **kwargs):
    """On the CPU target; other targets run ATen's reduction, held to eager's within float32 rounding."""
    actual = torch.linalg.vector_norm(x.to("lazyplus"), **kwargs).cpu()
    expected = torch.linalg.vector_norm(x, **kwargs)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    assert_near_exact(actual, torch.linalg.vector_norm(x.double(), **kwargs))


def assert_near_exact(actual, exact):
    """Within the bound of the float64 norms `exact` on the CPU target, within float32 rounding elsewhere."""
    if not CPU_TARGET:
        torch.testing.assert_close(actual, exact.float(), rtol=1e-4, atol=0)
        return
    assert ((actual.double() - exact).abs() <= 5 * EPS * exact).all(), (actual, exact)


@pytest.mark.parametrize("shape", [(64, 256), (45, 64), (64,), (3,), (1000, 1000), (257,), (5, 7, 9)])
def test_whole_tensor_norms_are_within_the_bound(shape):
    assert_within_bound(torch.randn(shape) * 3)
    assert kernel_calls() == (1 if CPU_TARGET else 0)


def test_every_dim_named_with_keepdim_is_a_whole_tensor_norm():
    assert_within_bound(torch.randn(10, 12), dim=(1, 0), keepdim=True)
    assert kernel_calls() == (1 if CPU_TARGET else 0)


@pytest.mark.parametrize("dim", [None, 0, -1, ()])
def test_the_norm_of_a_0_dim_tensor(dim):
    assert_within_bound(torch.tensor(-3.5), dim=dim)


def test_gradient_clipping_scales_as_on_the_cpu():
    torch.manual_seed(0)
    grads = [torch.randn(64, 32) * 4, torch.randn(32), torch.randn(7, 3, 5)]
    clipped = {}
    for device in ("cpu", "lazyplus"):
        params = [torch.nn.Parameter(torch.zeros_like(g, device=device)) for g in grads]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.to(device, copy=True)  # clipping scales it in place
        total = torch.nn.utils.clip_grad_norm_(params, max_norm=1.0)
        clipped[device] = [total.cpu()] + [p.grad.cpu() for p in params]
    for a, e in zip(clipped["lazyplus"], clipped["cpu"], strict=True):
        torch.testing.assert_close(a, e, rtol=1e-6, atol=1e-7)
    assert kernel_calls() == (len(grads) + 1 if CPU_TARGET else 0)
    assert stacked_calls() == (1 if CPU_TARGET else 0)  # the gradients' norms, stacked in one step


def stacked_norms(tensors, device):
    return torch.stack([torch.linalg.vector_norm(t.to(device)) for t in tensors]).cpu()


def test_a_stack_of_norms_is_each_norm_within_the_bound():
    torch.manual_seed(0)
    tensors = [torch.randn(64, 256), torch.randn(5) * 1e3, torch.randn(7, 3, 5) * 1e-3, torch.randn(300_000)]
    actual = stacked_norms(tensors, "lazyplus")
    exact = stacked_norms([t.double() for t in tensors], "cpu")
    assert actual.dtype == torch.float32 and actual.shape == (4,)
    assert_near_exact(actual, exact)
    assert stacked_calls() == (1 if CPU_TARGET else 0)


@pytest.mark.parametrize("case", ["transposed", "float64", "ord 1"])
def test_a_stack_holding_a_norm_the_kernel_does_not_take_runs_atens(case):
    torch.manual_seed(0)
    a, b = torch.randn(20, 30), torch.randn(30, 20)
    b = {"transposed": b.t(), "float64": b.double()}.get(case, b)
    ord_b = 1 if case == "ord 1" else 2
    norms = {d: torch.stack([torch.linalg.vector_norm(a.to(d)), torch.linalg.vector_norm(b.to(d), ord_b)]).cpu()
             for d in ("cpu", "lazyplus")}
    torch.testing.assert_close(norms["lazyplus"], norms["cpu"], rtol=1e-6, atol=0)
    assert stacked_calls() == 0


def test_a_stacked_norm_read_on_its_own_too_is_the_same_norm():
    torch.manual_seed(0)
    a, b = torch.randn(100, 10).to("lazyplus"), torch.randn(33).to("lazyplus")
    alone = torch.linalg.vector_norm(a)
    stacked = torch.stack([alone, torch.linalg.vector_norm(b)])
    torch_lazyplus.sync()  # one graph with both as results
    assert torch.equal(stacked.cpu()[0], alone.cpu())
    assert stacked_calls() == (1 if CPU_TARGET else 0)


@pytest.mark.parametrize("case", ["ord 1", "ord inf", "one dim", "float64", "transposed"])
def test_what_the_kernel_does_not_take_runs_atens(case):
    x = torch.randn(30, 20, dtype=torch.float64 if case == "float64" else torch.float32)
    x = x.t() if case == "transposed" else x
    kwargs = {"ord 1": {"ord": 1}, "ord inf": {"ord": float("inf")}, "one dim": {"dim": 0}}.get(case, {})
    actual = torch.linalg.vector_norm(x.to("lazyplus"), **kwargs).cpu()
    torch.testing.assert_close(actual, torch.linalg.vector_norm(x, **kwargs), rtol=1e-6, atol=0)
    assert kernel_calls() == 0


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(sizes=st.lists(st.integers(1, 60), min_size=1, max_size=3), scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_random_shapes_are_within_the_bound(sizes, scale):
    torch.manual_seed(sum(sizes))  # the same tensors on each run
    assert_within_bound(torch.randn(sizes) * scale)


@settings(max_examples=20, deadline=None, derandomize=True, database=None)
@given(sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=12), scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_random_stacks_of_norms_are_within_the_bound(sizes, scale):
    torch.manual_seed(sum(sizes))  # the same tensors on each run
    tensors = [torch.randn(n) * scale for n in sizes]
    actual = stacked_norms(tensors, "lazyplus")
    assert_near_exact(actual, stacked_norms([t.double() for t in tensors], "cpu"))
