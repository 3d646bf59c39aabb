"""Layer norm's backward runs lazyplus's own kernel on float32 contiguous rows: ATen's arithmetic without
its buffer tensor and second parallel region. The weight and bias gradients are the CPU's bit for bit
(each thread's part of the rows summed apart, in ATen's split); the input's gradient too on the default
ISA, and on AVX2/AVX-512 within 4x the CPU's error against float64 or 4 ulp of the largest gradient
(a row of 10 values: 3.7 ulp where the CPU happened to be within 0.3; over random shapes the two errors
have a median ratio of 1). What the kernel does not take (other dtypes, strided operands) runs ATen's
kernel, as eager does."""
import itertools

import pytest
import torch
from hypothesis import given, settings, strategies as st

import torch_lazyplus
from torch_lazyplus import debug, metrics

CPU_TARGET = torch_lazyplus.target() == "cpu"
INPUT_GRAD_BITWISE = debug.tile_isa() == "default"
EPS = torch.finfo(torch.float32).eps


def kernel_calls():
    return metrics.counters().get("LayerNormBackwardCalls", 0)


def backward(grad, x, shape, mean, rstd, weight, bias, mask, device, dtype=None):
    on = [None if t is None else t.to(device, dtype) for t in (grad, x, mean, rstd, weight, bias)]
    grad, x, mean, rstd, weight, bias = on
    results = torch.ops.aten.native_layer_norm_backward(grad, x, shape, mean, rstd, weight, bias, mask)
    return [None if t is None else t.cpu() for t in results]


def assert_matches_cpu(rows_shape, normalized, weight=True, bias=True, mask=(True, True, True)):
    x = torch.randn(rows_shape) * 3 + 1
    grad = torch.randn(rows_shape)
    w = torch.randn(normalized) if weight else None
    b = torch.randn(normalized) if bias else None
    _, mean, rstd = torch.native_layer_norm(x, normalized, w, b, 1e-5)
    args = (grad, x, normalized, mean, rstd, w, b, list(mask))
    expected, actual = backward(*args, "cpu"), backward(*args, "lazyplus")
    exact = backward(*args, "cpu", torch.float64)
    for name, a, e, ref in zip(("input", "weight", "bias"), actual, expected, exact, strict=True):
        if e is None:
            assert a is None, name
        elif name != "input" or INPUT_GRAD_BITWISE:
            assert torch.equal(a, e), (name, (a - e).abs().max().item())
        else:
            cpu_error = (e.double() - ref).abs().max().item()
            our_error = (a.double() - ref).abs().max().item()
            ulp_of_largest = EPS * ref.abs().max().item()
            assert our_error <= 4 * max(cpu_error, ulp_of_largest), (name, our_error, cpu_error, ulp_of_largest)


@pytest.mark.parametrize("shape", [(16, 32, 64), (512, 64), (7, 33), (3, 1000), (1, 1), (64, 128, 64)])
def test_gradients_are_the_cpus(shape):
    assert_matches_cpu(shape, shape[-1:])
    assert kernel_calls() == (1 if CPU_TARGET else 0)


@pytest.mark.parametrize("weight, bias", [(True, True), (True, False), (False, True), (False, False)])
def test_every_output_mask_with_and_without_affine_parameters(weight, bias):
    for mask in itertools.product([True, False], repeat=3):
        if (mask[1] and not weight) or (mask[2] and not bias):
            continue  # autograd asks no gradient of a parameter the layer lacks
        assert_matches_cpu((5, 3, 17), (3, 17), weight, bias, mask)


def test_a_transformer_layer_norm_trains_as_on_the_cpu():
    """nn.LayerNorm with a residual branch, forward and backward on each device (the fused forward rounds
    tanh as eager's vector code does, not bit for bit: the gradients reaching the norm differ in the last
    bits, so these are compared to float32 rounding)."""
    x = torch.randn(4, 10, 48)
    results = {}
    for device in ("cpu", "lazyplus"):
        torch.manual_seed(0)
        norm = torch.nn.LayerNorm(48).to(device)
        with torch.no_grad():
            norm.weight.normal_()
            norm.bias.normal_()
        inp = x.to(device).detach().requires_grad_()
        (inp + norm(inp).tanh()).square().sum().backward()
        results[device] = [t.detach().cpu() for t in (inp.grad, norm.weight.grad, norm.bias.grad)]
    for a, e in zip(results["lazyplus"], results["cpu"], strict=True):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-5)
    assert kernel_calls() == (1 if CPU_TARGET else 0)


@pytest.mark.parametrize("case", ["float64", "strided gradient"])
def test_what_the_kernel_does_not_take_runs_atens(case):
    x = torch.randn(6, 20, dtype=torch.float64 if case == "float64" else torch.float32)
    grad = torch.randn(20, 6, dtype=x.dtype).t() if case == "strided gradient" else torch.randn_like(x)
    w, b = torch.randn(20, dtype=x.dtype), torch.randn(20, dtype=x.dtype)
    _, mean, rstd = torch.native_layer_norm(x, (20,), w, b, 1e-5)
    args = (grad, x, (20,), mean, rstd, w, b, [True] * 3)
    for a, e in zip(backward(*args, "lazyplus"), backward(*args, "cpu"), strict=True):
        assert torch.equal(a, e)
    assert kernel_calls() == 0


def test_rows_of_ten_where_the_cpu_rounds_closer():
    """Found by the random shapes (fresh-clone CI): ours 3.7 ulp from float64, the CPU's 0.3, which the
    first bound (twice the CPU's error) did not allow."""
    torch.manual_seed(10 * 1000 + 10)
    assert_matches_cpu((10, 10), (10,), True, False, (True, True, False))


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(rows=st.integers(1, 300), cols=st.integers(1, 300), weight=st.booleans(), bias=st.booleans())
def test_random_shapes_match_the_cpu(rows, cols, weight, bias):
    torch.manual_seed(rows * 1000 + cols)  # the same tensors on each run
    assert_matches_cpu((rows, cols), (cols,), weight, bias, (True, weight, bias))
