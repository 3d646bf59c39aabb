"""Batch norm's training forward runs lazyplus's own kernel on float32 (N, C, ...) input with planes:
the CPU's output, saved mean and inverse deviation and updated running statistics, bit for bit (its
float64 sums run in vector lanes, ATen's in one chain; they differ in float64's last bits only). What
it does not take (no planes, other dtypes, evaluation mode) runs ATen's kernel, as eager does."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

import torch_lazyplus
from torch_lazyplus import metrics

CPU_TARGET = torch_lazyplus.target() == "cpu"


def batch_norm(x, weight, bias, running_mean, running_var, device, momentum=0.1, eps=1e-5):
    """The five results of the training forward lazyplus records (what F.batch_norm becomes)."""
    on = [None if t is None else t.to(device) for t in (x, weight, bias, running_mean, running_var)]
    results = torch.ops.aten._native_batch_norm_legit_functional(*on, True, momentum, eps)
    return [t.cpu() for t in results]


def assert_bitwise_as_cpu(shape, affine=True, momentum=0.1, eps=1e-5):
    channels = shape[1]
    x = torch.randn(shape) * 3 + 1
    weight, bias = (torch.randn(channels), torch.randn(channels)) if affine else (None, None)
    stats = (torch.randn(channels), torch.rand(channels) + 0.5)
    expected = batch_norm(x, weight, bias, *stats, "cpu", momentum, eps)
    actual = batch_norm(x, weight, bias, *stats, "lazyplus", momentum, eps)
    names = ("output", "mean", "invstd", "running mean", "running var")
    for name, a, e in zip(names, actual, expected, strict=True):
        assert torch.equal(a, e), (name, (a - e).abs().max().item())


@pytest.mark.parametrize("shape", [(16, 32, 32, 32), (16, 128, 8, 8), (4, 3, 5, 5), (2, 7, 9), (3, 4, 2, 2, 3),
                                   (1, 4, 3, 3), (5, 3, 1, 19)])
@pytest.mark.parametrize("affine", [True, False])
def test_the_training_forward_is_the_cpus_bit_for_bit(shape, affine):
    assert_bitwise_as_cpu(shape, affine)
    assert metrics.counters().get("BatchNormTrainingCalls", 0) == (1 if CPU_TARGET else 0)


def test_a_batch_norm_layer_trains_as_on_the_cpu():
    """nn.BatchNorm2d in training mode: outputs and running statistics bit for bit, gradients (ATen's
    backward on both) too."""
    x = torch.randn(8, 6, 10, 10)
    results = {}
    for device in ("cpu", "lazyplus"):
        torch.manual_seed(0)
        layer = torch.nn.BatchNorm2d(6).to(device)
        with torch.no_grad():
            layer.weight.normal_()
            layer.bias.normal_()
        inp = x.to(device).detach().requires_grad_()
        out = layer(inp)
        out.square().sum().backward()
        results[device] = [t.detach().cpu() for t in (out, layer.running_mean, layer.running_var, inp.grad,
                                                      layer.weight.grad, layer.bias.grad)]
    for a, e in zip(results["lazyplus"], results["cpu"], strict=True):
        assert torch.equal(a, e)


@pytest.mark.parametrize("case", ["no planes", "single-value planes", "float64"])
def test_what_the_kernel_does_not_take_runs_atens(case):
    shape, dtype = {"no planes": ((8, 5), torch.float32), "single-value planes": ((4, 3, 1, 1), torch.float32),
                    "float64": ((4, 3, 5, 5), torch.float64)}[case]
    x = torch.randn(shape, dtype=dtype)
    params = [torch.randn(shape[1], dtype=dtype) for _ in range(2)] + [torch.zeros(shape[1], dtype=dtype),
                                                                        torch.ones(shape[1], dtype=dtype)]
    for a, e in zip(batch_norm(x, *params, "lazyplus"), batch_norm(x, *params, "cpu"), strict=True):
        assert torch.equal(a, e)
    assert metrics.counters().get("BatchNormTrainingCalls", 0) == 0


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(batch=st.integers(1, 6), channels=st.integers(1, 9), height=st.integers(1, 21), width=st.integers(2, 37),
       affine=st.booleans(), momentum=st.sampled_from([0.1, 0.01, 0.5]), eps=st.sampled_from([1e-5, 1e-3, 0.0]))
def test_random_shapes_are_the_cpus_bit_for_bit(batch, channels, height, width, affine, momentum, eps):
    torch.manual_seed(batch * 1000 + channels * 100 + height * 10 + width)  # the same tensors on each run
    assert_bitwise_as_cpu((batch, channels, height, width), affine, momentum, eps)
