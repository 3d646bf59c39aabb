"""The CUDA target on a GPU (LAZYPLUS_TARGET=cuda, the default where torch sees one): lazyplus tensors
live in device memory from torch's caching allocator, fused regions run their generated kernels, and
everything else ATen's CUDA kernels. Skipped elsewhere; tests/test_cuda_target.py runs the same
programs without a GPU."""
import pytest
import torch
import torch.nn.functional as F

import torch_lazyplus
from torch_lazyplus import metrics

pytestmark = pytest.mark.skipif(torch_lazyplus.target() != "cuda", reason="needs the cuda target (a GPU)")


def test_a_computed_tensor_is_gpu_memory_that_torch_cuda_counts():
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    x = torch.ones(1 << 20, device="lazyplus") * 3
    torch_lazyplus.sync()
    assert torch.cuda.memory_allocated() - before >= 4 << 20
    assert x.sum().item() == 3 * (1 << 20)


@pytest.mark.parametrize("fn", [lambda x: (x.sigmoid() * 2 + 1).tanh(), lambda x: torch.softmax(x, -1),
                                lambda x: F.layer_norm(x, (x.shape[-1],)), lambda x: F.gelu(x @ x.T)],
                         ids=["chain", "softmax", "layer_norm", "matmul_gelu"])
@pytest.mark.parametrize("cols", [64, 3000])
def test_lazyplus_on_the_gpu_computes_as_eager_cuda(fn, cols):
    x = torch.randn(32, cols)
    torch.testing.assert_close(fn(x.to("lazyplus")).cpu(), fn(x.cuda()).cpu(), rtol=1e-4, atol=1e-5)


def test_a_new_batch_size_compiles_no_new_kernel():
    f = lambda x: torch.softmax(x * 2, -1)  # noqa: E731
    f(torch.randn(8, 128, device="lazyplus")).cpu()
    metrics.reset()
    f(torch.randn(24, 128, device="lazyplus")).cpu()
    assert metrics.counters().get("CudaKernelCompiles", 0) == 0


def test_mixing_lazyplus_and_cuda_tensors_raises_eagers_device_error():
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        torch.ones(2, device="lazyplus") + torch.ones(2, device="cuda")
