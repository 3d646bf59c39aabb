"""An embedding's weight gradient runs lazyplus's own kernel on float32 gradients: each index's row added
to its weight row in index order, as ATen adds them, so the CPU's gradient bit for bit (repeated indices
included). Frequency-scaled gradients and other dtypes run ATen's kernel, as eager does."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

import torch_lazyplus
from torch_lazyplus import metrics

CPU_TARGET = torch_lazyplus.target() == "cpu"


def kernel_calls():
    return metrics.counters().get("EmbeddingBackwardCalls", 0)


def weight_grad(grad, indices, rows, padding_idx, scale_grad_by_freq, device):
    result = torch.ops.aten.embedding_dense_backward(grad.to(device), indices.to(device), rows, padding_idx,
                                                     scale_grad_by_freq)
    return result.cpu()


def assert_bitwise_as_cpu(index_shape, rows, width, padding_idx=-1, index_dtype=torch.long):
    indices = torch.randint(rows, index_shape, dtype=index_dtype)
    grad = torch.randn(*index_shape, width) * 10
    expected = weight_grad(grad, indices, rows, padding_idx, False, "cpu")
    assert torch.equal(weight_grad(grad, indices, rows, padding_idx, False, "lazyplus"), expected)


@pytest.mark.parametrize("index_shape, rows, width", [((16, 32), 45, 64), ((32,), 32, 64), ((5000,), 100, 33),
                                                      ((2, 3), 3, 1), ((4, 500), 1000, 128)])
@pytest.mark.parametrize("index_dtype", [torch.long, torch.int])
def test_the_weight_gradient_is_the_cpus_bit_for_bit(index_shape, rows, width, index_dtype):
    assert_bitwise_as_cpu(index_shape, rows, width, index_dtype=index_dtype)
    assert kernel_calls() == (1 if CPU_TARGET else 0)


def test_the_padding_row_gets_no_gradient():
    assert_bitwise_as_cpu((300,), 7, 16, padding_idx=3)


def test_an_embedding_layer_trains_as_on_the_cpu():
    indices = torch.randint(50, (8, 20))
    grads = {}
    for device in ("cpu", "lazyplus"):
        torch.manual_seed(0)
        layer = torch.nn.Embedding(50, 24, padding_idx=0).to(device)
        layer(indices.to(device)).square().sum().backward()
        grads[device] = layer.weight.grad.cpu()
    assert torch.equal(grads["lazyplus"], grads["cpu"])


@pytest.mark.parametrize("case", ["frequency-scaled", "float64"])
def test_what_the_kernel_does_not_take_runs_atens(case):
    indices = torch.randint(10, (200,))
    grad = torch.randn(200, 8, dtype=torch.float64 if case == "float64" else torch.float32)
    scaled = case == "frequency-scaled"
    expected = weight_grad(grad, indices, 10, -1, scaled, "cpu")
    assert torch.equal(weight_grad(grad, indices, 10, -1, scaled, "lazyplus"), expected)
    assert kernel_calls() == 0


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(count=st.integers(0, 700), rows=st.integers(1, 80), width=st.integers(1, 70), padded=st.booleans())
def test_random_shapes_are_the_cpus_bit_for_bit(count, rows, width, padded):
    torch.manual_seed(count * 10000 + rows * 100 + width)  # the same tensors on each run
    assert_bitwise_as_cpu((count,), rows, width, padding_idx=rows // 2 if padded else -1)
