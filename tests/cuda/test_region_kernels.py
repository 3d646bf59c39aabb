"""The generated CUDA kernels on a GPU, region by region, against the CPU's fused lowering (which is held
to eager elsewhere): the cases of the host twins
(tests/test_cuda_codegen.py) and the launcher's choices (vector or scalar kernel, registers or loop).
Skipped without a GPU or without lazyplus's CUDA build (liblazyplus_cuda.so)."""
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from cuda_kernels import assert_kernels_match_the_fused_lowering  # noqa: E402
from test_cuda_codegen import CASES, lazy  # noqa: E402

import torch_lazyplus  # noqa: E402
from torch_lazyplus import _cuda, debug  # noqa: E402

pytestmark = [pytest.mark.skipif(not (torch.cuda.is_available() and _cuda.built()),
                                 reason="needs a GPU and lazyplus built against a CUDA torch"),
              pytest.mark.skipif(torch_lazyplus.target() != "cpu",
                                 reason="compares with the CPU target's fused lowering: LAZYPLUS_TARGET=cpu")]


def on_gpu(region):
    return [("gpu", lambda inputs, outputs: _cuda.run_region(region, inputs, outputs))]


@pytest.mark.parametrize("case", CASES)
def test_every_region_kernel_computes_what_the_cpu_computes_on_the_gpu(case):
    fn, make = CASES[case]
    torch.manual_seed(0)
    assert assert_kernels_match_the_fused_lowering(fn(*lazy(*make())), on_gpu, device="cuda")


@pytest.mark.parametrize("shape", [(4096, 4097), (3, 1 << 20)])
def test_large_and_odd_regions_cover_the_grid_stride_loops(shape):
    x, w = lazy(torch.randn(*shape), torch.randn(shape[-1]))
    assert assert_kernels_match_the_fused_lowering([(x * w).sigmoid(), torch.softmax(x, -1)], on_gpu, "cuda")


def test_an_output_not_aligned_for_vector_stores_runs_the_scalar_kernel():
    x = torch.randn(1000)
    (region,) = debug.cuda_sources([lazy(x)[0] * 3])
    inputs = [i["tensor"].cpu() if by_value else i["tensor"].cpu().cuda()
              for i, by_value in zip(region["inputs"], region["by_value"])]
    out = torch.empty(1001, device="cuda")[1:]  # 4 bytes past a 16-byte boundary
    _cuda.run_region(region, inputs, [out])
    torch.testing.assert_close(out.cpu(), x * 3)


def test_a_region_given_cpu_tensors_raises():
    (region,) = debug.cuda_sources([lazy(torch.randn(10))[0].exp()])
    with pytest.raises(RuntimeError, match="CUDA tensors"):
        _cuda.run_region(region, [torch.randn(10).cuda()], [torch.empty(10)])
