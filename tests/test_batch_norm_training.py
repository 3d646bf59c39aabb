"""Batch norm in training runs lazyplus's own kernels on float32 input in either layout ATen's kernels
take: contiguous (N, C, ...) with planes, and channels-last (2-d and 3-d, and contiguous input whose
planes hold one value, (N, C) included).

The forward gives the CPU's output, saved mean and inverse deviation and updated running statistics bit
for bit: with planes its float64 sums run in vector lanes, ATen's in one chain (they differ in
float64's last bits only); channels-last it sums as ATen does, in float32 per part of the rows. The
backward of channels-last input and gradient gives the CPU's three gradients bit for bit. What the
kernels do not take (other layouts, other dtypes, evaluation mode) runs ATen's kernel, as eager does."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

import torch_lazyplus
from torch_lazyplus import metrics

CPU_TARGET = torch_lazyplus.target() == "cpu"
LAYOUTS = {
    "planes": lambda t: t.contiguous(),
    "channels-last": lambda t: t.contiguous(memory_format=torch.channels_last if t.dim() == 4
                                            else torch.channels_last_3d if t.dim() == 5 else torch.contiguous_format),
}


def batch_norm(x, weight, bias, running_mean, running_var, device, momentum=0.1, eps=1e-5):
    """The five results of the training forward lazyplus records (what F.batch_norm becomes)."""
    on = [None if t is None else t.to(device) for t in (x, weight, bias, running_mean, running_var)]
    results = torch.ops.aten._native_batch_norm_legit_functional(*on, True, momentum, eps)
    return [t.cpu() for t in results]


def batch_norm_backward(grad, x, weight, mean, invstd, device, mask=(True, True, True)):
    """The gradients of input, weight and bias autograd asks of a training batch norm."""
    on = [None if t is None else t.to(device) for t in (grad, x, weight, mean, invstd)]
    results = torch.ops.aten.native_batch_norm_backward(on[0], on[1], on[2], None, None, on[3], on[4], True, 1e-5,
                                                         list(mask))
    return [None if t is None else t.cpu() for t in results]


def assert_all_equal(names, actual, expected):
    for name, a, e in zip(names, actual, expected, strict=True):
        if e is None:
            assert a is None, name
            continue
        assert torch.equal(a, e) or (a.isnan().all() and e.isnan().all()), (name, (a - e).abs().max().item())
        assert a.stride() == e.stride() or a.dim() == 1, name


def assert_bitwise_as_cpu(shape, affine=True, momentum=0.1, eps=1e-5, layout="planes"):
    channels = shape[1]
    x = LAYOUTS[layout](torch.randn(shape) * 3 + 1)
    weight, bias = (torch.randn(channels), torch.randn(channels)) if affine else (None, None)
    stats = (torch.randn(channels), torch.rand(channels) + 0.5)
    expected = batch_norm(x, weight, bias, *stats, "cpu", momentum, eps)
    actual = batch_norm(x, weight, bias, *stats, "lazyplus", momentum, eps)
    assert_all_equal(("output", "mean", "invstd", "running mean", "running var"), actual, expected)
    return x, weight, expected


@pytest.mark.parametrize("shape", [(16, 32, 32, 32), (16, 128, 8, 8), (4, 3, 5, 5), (2, 7, 9), (3, 4, 2, 2, 3),
                                   (1, 4, 3, 3), (5, 3, 1, 19)])
@pytest.mark.parametrize("affine", [True, False])
def test_the_training_forward_is_the_cpus_bit_for_bit(shape, affine):
    assert_bitwise_as_cpu(shape, affine)
    assert metrics.counters().get("BatchNormTrainingCalls", 0) == (1 if CPU_TARGET else 0)


# Channel counts around the vector widths (8 and 16 floats) and the 4-vector blocks the sums keep in
# registers; (2, 130), (2, 20), (1, 6) and (2, 6) have a row per thread or fewer on two threads, where
# ATen sums more than 16 channels in float64 and fewer in one float32 part.
CHANNELS_LAST_SHAPES = [(16, 32, 32, 32), (16, 128, 8, 8), (4, 3, 5, 5), (3, 56, 3, 2), (5, 72, 2, 3),
                        (2, 200, 3, 2), (3, 65, 4, 4), (2, 3, 4, 5, 6), (8, 5, 1, 1), (70, 9), (2, 130), (2, 20),
                        (1, 6), (2, 6)]


@pytest.mark.parametrize("shape", CHANNELS_LAST_SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_the_channels_last_training_forward_is_the_cpus_bit_for_bit(shape, affine):
    assert_bitwise_as_cpu(shape, affine, layout="channels-last")
    assert metrics.counters().get("BatchNormTrainingCalls", 0) == (1 if CPU_TARGET else 0)


@pytest.mark.parametrize("shape", CHANNELS_LAST_SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_the_channels_last_backward_is_the_cpus_bit_for_bit(shape, affine):
    x, weight, (_, mean, invstd, _, _) = assert_bitwise_as_cpu(shape, affine, layout="channels-last")
    grad = torch.randn_like(x)
    expected = batch_norm_backward(grad, x, weight, mean, invstd, "cpu")
    actual = batch_norm_backward(grad, x, weight, mean, invstd, "lazyplus")
    assert_all_equal(("input", "weight", "bias"), actual, expected)
    assert metrics.counters().get("BatchNormBackwardCalls", 0) == (1 if CPU_TARGET else 0)


@pytest.mark.parametrize("mask", [(True, False, False), (False, True, True), (False, False, True)])
def test_the_backward_computes_only_the_gradients_asked_for(mask):
    x, weight, (_, mean, invstd, _, _) = assert_bitwise_as_cpu((4, 24, 3, 3), layout="channels-last")
    grad = torch.randn_like(x)
    assert_all_equal(("input", "weight", "bias"), batch_norm_backward(grad, x, weight, mean, invstd, "lazyplus", mask),
                     batch_norm_backward(grad, x, weight, mean, invstd, "cpu", mask))


@pytest.mark.parametrize("threads", [1, 3, 4])
@pytest.mark.parametrize("shape", [(16, 40, 9, 9), (3, 6), (5, 6)])
def test_channels_last_sums_follow_the_thread_count(threads, shape):
    """ATen sums the rows in one part a thread (the forward in one part where there are no more rows than
    threads): the bits depend on the thread count, and stay eager's."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x, weight, (_, mean, invstd, _, _) = assert_bitwise_as_cpu(shape, layout="channels-last")
        grad = torch.randn_like(x)
        assert_all_equal(("input", "weight", "bias"), batch_norm_backward(grad, x, weight, mean, invstd, "lazyplus"),
                         batch_norm_backward(grad, x, weight, mean, invstd, "cpu"))
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_a_batch_norm_layer_trains_as_on_the_cpu(memory_format):
    """nn.BatchNorm2d in training mode: outputs, running statistics and gradients bit for bit."""
    x = torch.randn(8, 6, 10, 10).contiguous(memory_format=memory_format)
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
    assert_all_equal(("output", "running mean", "running var", "input grad", "weight grad", "bias grad"),
                     results["lazyplus"], results["cpu"])
    channels_last = memory_format == torch.channels_last
    assert metrics.counters().get("BatchNormBackwardCalls", 0) == (1 if CPU_TARGET and channels_last else 0)


@pytest.mark.parametrize("case", ["channels-last 1-d", "transposed", "float64"])
def test_what_the_forward_does_not_take_runs_atens(case):
    shape, dtype = ((4, 3, 5), torch.float64) if case == "float64" else ((4, 3, 5), torch.float32)
    x = torch.randn(shape, dtype=dtype)
    layouts = {"channels-last 1-d": x.transpose(1, 2).contiguous().transpose(1, 2), "transposed": x.transpose(0, 2)}
    x = layouts.get(case, x)
    channels = x.shape[1]
    params = [torch.randn(channels, dtype=dtype) for _ in range(2)] + [torch.zeros(channels, dtype=dtype),
                                                                        torch.ones(channels, dtype=dtype)]
    assert_all_equal(range(5), batch_norm(x, *params, "lazyplus"), batch_norm(x, *params, "cpu"))
    assert metrics.counters().get("BatchNormTrainingCalls", 0) == 0


@pytest.mark.parametrize("case", ["planes", "gradient in another layout", "evaluation"])
def test_what_the_backward_does_not_take_runs_atens(case):
    channels_last = torch.channels_last
    x = torch.randn(4, 8, 5, 5).contiguous(memory_format=torch.contiguous_format if case == "planes" else channels_last)
    grad_layout = channels_last if case == "evaluation" else torch.contiguous_format
    grad = torch.randn(4, 8, 5, 5).contiguous(memory_format=grad_layout)
    weight, mean, invstd = torch.randn(8), torch.randn(8), torch.rand(8) + 0.5
    train = case != "evaluation"
    results = {}
    for device in ("cpu", "lazyplus"):
        g, inp, w, m, v = (t.to(device) for t in (grad, x, weight, mean, invstd))
        running, saved = ((None, None), (m, v)) if train else ((m, v), (None, None))
        out = torch.ops.aten.native_batch_norm_backward(g, inp, w, *running, *saved, train, 1e-5, [True, True, True])
        results[device] = [t.cpu() for t in out]
    assert_all_equal(("input", "weight", "bias"), results["lazyplus"], results["cpu"])
    assert metrics.counters().get("BatchNormBackwardCalls", 0) == 0


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(batch=st.integers(1, 6), channels=st.integers(1, 9), height=st.integers(1, 21), width=st.integers(2, 37),
       affine=st.booleans(), momentum=st.sampled_from([0.1, 0.01, 0.5]), eps=st.sampled_from([1e-5, 1e-3, 0.0]))
def test_random_shapes_are_the_cpus_bit_for_bit(batch, channels, height, width, affine, momentum, eps):
    torch.manual_seed(batch * 1000 + channels * 100 + height * 10 + width)  # the same tensors on each run
    assert_bitwise_as_cpu((batch, channels, height, width), affine, momentum, eps)


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(batch=st.integers(1, 6), channels=st.integers(1, 70), height=st.integers(1, 9), width=st.integers(1, 9),
       affine=st.booleans(), eps=st.sampled_from([1e-5, 1e-3, 0.0]))
def test_random_channels_last_shapes_train_as_on_the_cpu(batch, channels, height, width, affine, eps):
    torch.manual_seed(batch * 1000 + channels * 100 + height * 10 + width)
    x, weight, (_, mean, invstd, _, _) = assert_bitwise_as_cpu((batch, channels, height, width), affine, 0.1, eps,
                                                               layout="channels-last")
    grad = torch.randn_like(x)
    assert_all_equal(("input", "weight", "bias"), batch_norm_backward(grad, x, weight, mean, invstd, "lazyplus"),
                     batch_norm_backward(grad, x, weight, mean, invstd, "cpu"))
