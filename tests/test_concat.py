"""Concatenation of contiguous tensors of one dtype runs lazyplus's own copy loop (each thread copies the
rows written on its core), the CPU's result bit for bit. Mixed dtypes (promoted) and strided operands run
ATen's cat, as eager does."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

import torch_lazyplus
from torch_lazyplus import metrics

CPU_TARGET = torch_lazyplus.target() == "cpu"


def kernel_calls():
    return metrics.counters().get("CatCalls", 0)


def assert_cat_is_the_cpus(tensors, dim):
    expected = torch.cat(tensors, dim)
    actual = torch.cat([t.to("lazyplus") for t in tensors], dim).cpu()
    assert actual.dtype == expected.dtype and torch.equal(actual, expected)


def random_tensor(shape, dtype):
    return torch.randn(shape) > 0 if dtype == torch.bool else (torch.randn(shape) * 100).to(dtype)


@pytest.mark.parametrize("shapes, dim", [([(16, 32, 64)] * 3, -1), ([(16, 32, 64), (16, 32, 8)], 2),
                                         ([(3, 4), (5, 4)], 0), ([(2, 3, 4), (2, 5, 4), (2, 1, 4)], 1),
                                         ([(0, 4), (3, 4)], 0), ([(4,), (0,), (2,)], 0)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.bool, torch.float16])
def test_cat_is_the_cpus_bit_for_bit(shapes, dim, dtype):
    assert_cat_is_the_cpus([random_tensor(s, dtype) for s in shapes], dim)
    assert kernel_calls() == (1 if CPU_TARGET else 0)


def test_the_qkv_gradients_of_attention_are_concatenated_as_on_the_cpu():
    """A fused q/k/v projection split into heads: its gradient is the cat of the three gradients."""
    torch.manual_seed(0)
    x = torch.randn(4, 10, 24)
    grads = {}
    for device in ("cpu", "lazyplus"):
        proj = torch.nn.Linear(24, 72, bias=False).to(device)
        with torch.no_grad():
            proj.weight.copy_(torch.linspace(-1, 1, 72 * 24).view(72, 24))
        q, k, v = proj(x.to(device)).split(24, dim=2)
        (q * 1.5 + k * k + v.sin()).sum().backward()
        grads[device] = proj.weight.grad.cpu()
    torch.testing.assert_close(grads["lazyplus"], grads["cpu"], rtol=1e-5, atol=1e-5)
    assert kernel_calls() == (1 if CPU_TARGET else 0)


@pytest.mark.parametrize("case", ["mixed dtypes", "transposed operand"])
def test_what_the_copy_does_not_take_runs_atens(case):
    a = torch.randn(6, 5)
    b = torch.randn(5, 6).t() if case == "transposed operand" else torch.randint(9, (6, 5))
    assert_cat_is_the_cpus([a, b], 0)
    assert kernel_calls() == 0


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(sizes=st.lists(st.integers(1, 9), min_size=1, max_size=4), dim=st.integers(0, 3),
       cat_sizes=st.lists(st.integers(0, 7), min_size=1, max_size=4))
def test_random_shapes_are_the_cpus(sizes, dim, cat_sizes):
    torch.manual_seed(sum(sizes) * 100 + sum(cat_sizes))  # the same tensors on each run
    dim = dim % len(sizes)
    shapes = [sizes[:dim] + [n] + sizes[dim + 1:] for n in cat_sizes]
    assert_cat_is_the_cpus([torch.randn(s) for s in shapes], dim)
