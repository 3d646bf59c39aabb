"""Sums over a float32 tensor's leading dims (a linear layer's bias gradient) run lazyplus's own kernel:
blocks of 16 rows summed in float32, the block sums added in float64. Not eager's bits: each sum is
held to the error bound of a 16-term float32 sum, which eager's cascade sum also starts with. Other
dims, dtypes and layouts run ATen's reduction, as eager does."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

import torch_lazyplus
from torch_lazyplus import metrics

CPU_TARGET = torch_lazyplus.target() == "cpu"
EPS = torch.finfo(torch.float32).eps


def kernel_calls():
    return metrics.counters().get("ColumnSumsCalls", 0)


def assert_within_block_sum_bound(x, dims, keepdim=False):
    actual = x.to("lazyplus").sum(dims, keepdim=keepdim).cpu()
    expected = x.sum(dims, keepdim=keepdim)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    exact = x.double().sum(dims, keepdim=keepdim)
    magnitude = x.double().abs().sum(dims, keepdim=keepdim)
    # 15 roundings in a block of 16 (each at most eps/2 of a partial sum), then one to float32.
    bound = 8 * EPS * magnitude + EPS / 2 * exact.abs() + 1e-30
    assert ((actual.double() - exact).abs() <= bound).all(), (actual.double() - exact).abs().max().item()


@pytest.mark.parametrize("shape, dims, keepdim", [((512, 256), [0], True), ((512, 64), [0], False),
                                                  ((16, 32, 64), [0, 1], False), ((16, 32, 64), [1, 0], True),
                                                  ((16, 32, 64), [0], True), ((3, 5), [-2], False),
                                                  ((1, 7), [0], True), ((100, 1), [0], False),
                                                  ((2048, 3000), [0], False)])
def test_leading_dim_sums_are_within_the_block_sum_bound(shape, dims, keepdim):
    assert_within_block_sum_bound(torch.randn(shape) * 5 + 1, dims, keepdim)
    assert kernel_calls() == (1 if CPU_TARGET else 0)


def test_a_linear_layers_bias_gradient():
    """The bias gradient is the output gradient's sum over the batch: within the bound of that sum."""
    torch.manual_seed(0)
    x, grad = torch.randn(64, 20), torch.randn(64, 30)
    layer = torch.nn.Linear(20, 30).to("lazyplus")
    layer(x.to("lazyplus")).backward(grad.to("lazyplus"))
    exact = grad.double().sum(0)
    bound = 8 * EPS * grad.double().abs().sum(0) + EPS / 2 * exact.abs()
    assert ((layer.bias.grad.cpu().double() - exact).abs() <= bound).all()
    assert kernel_calls() == (1 if CPU_TARGET else 0)


@pytest.mark.parametrize("case", ["float64", "transposed", "float64 result"])
def test_what_the_kernel_does_not_take_runs_atens(case):
    x = torch.randn(40, 24, dtype=torch.float64 if case == "float64" else torch.float32)
    x = x.t() if case == "transposed" else x
    kwargs = {"dtype": torch.float64} if case == "float64 result" else {}
    assert torch.equal(x.to("lazyplus").sum([0], **kwargs).cpu(), x.sum([0], **kwargs))
    assert kernel_calls() == 0


@pytest.mark.parametrize("dims", [[1], [0, 1]])
def test_sums_over_the_last_dim_are_not_column_sums(dims):
    """A row sum fuses into a region; a sum over every dim is ATen's full reduction."""
    x = torch.randn(40, 24)
    torch.testing.assert_close(x.to("lazyplus").sum(dims).cpu(), x.sum(dims))
    assert kernel_calls() == 0


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(lead=st.lists(st.integers(1, 40), min_size=1, max_size=3), inner=st.integers(1, 300),
       keepdim=st.booleans())
def test_random_shapes_are_within_the_block_sum_bound(lead, inner, keepdim):
    torch.manual_seed(sum(lead) * 1000 + inner)  # the same tensors on each run
    x = torch.randn(*lead, inner) * 3
    assert_within_block_sum_bound(x, list(range(len(lead))), keepdim)
