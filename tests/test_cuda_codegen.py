"""The CUDA target's code generator, checked without a GPU. Each fused region becomes one CUDA C
source (expect files keep the benchmark regions' text); NVRTC compiles every region for sm_80 and
sm_90 without register spills; and every kernel's host twin (the same text compiled by g++) computes
what the CPU's tile interpreter computes for the same program (and the cases what eager computes), for
every tile op, dtype, broadcast and row length, and for random graphs."""
import concurrent.futures
import glob
import os
import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from torch.utils.cpp_extension import include_paths

import torch_lazyplus
from torch_lazyplus import _C, debug, metrics

import test_random_graphs as random_graphs
from cuda_kernels import assert_host_twins_match_the_fused_lowering, assert_regions_compile_for_gpus, nvrtc_available

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
from workloads import chain  # noqa: E402

EXPECT = os.path.join(os.path.dirname(__file__), "expect", "cuda")
needs_nvrtc = pytest.mark.skipif(not nvrtc_available(), reason="NVRTC (nvidia-cuda-nvrtc) cannot be loaded")


def lazy(*tensors):
    return [t.to("lazyplus") for t in tensors]


def kernels_text(tensors):
    """The regions' CUDA sources without the preamble they share."""
    return "".join(r["text"][r["text"].index("// lazyplus region"):] for r in debug.cuda_sources(tensors))


def assert_matches_expect_file(text, name):
    path = os.path.join(EXPECT, name + ".cu")
    if os.environ.get("EXPECTTEST_ACCEPT") == "1":
        os.makedirs(EXPECT, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        assert text == f.read(), f"{path} differs (EXPECTTEST_ACCEPT=1 rewrites it)"


def adamw_step():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(64, 64).to("lazyplus"))
    p.grad = torch.randn(64, 64).to("lazyplus")
    torch.optim.AdamW([p], lr=1e-3).step()
    return [p]


BENCHMARK_REGIONS = {
    "chain": lambda: [chain(*lazy(torch.randn(1000)))],
    "softmax": lambda: [torch.softmax(*lazy(torch.randn(32, 4096)), -1)],
    "layer_norm": lambda: [F.layer_norm(x, (4096,), w, b)
                           for x, w, b in [lazy(torch.randn(32, 4096), torch.randn(4096), torch.randn(4096))]],
    "adamw": adamw_step,
}


@pytest.mark.parametrize("name", BENCHMARK_REGIONS)
def test_benchmark_regions_render_as_their_expect_files(name):
    assert_matches_expect_file(kernels_text(BENCHMARK_REGIONS[name]()), name)


def test_a_pointwise_region_has_a_scalar_and_a_vector_kernel_and_a_row_region_a_register_and_a_looped_one():
    x = lazy(torch.randn(8, 40))[0]
    (pointwise,) = debug.cuda_sources([x.exp() * 2])
    (rows,) = debug.cuda_sources([torch.softmax(x, -1)])
    assert [k[len(pointwise["name"]):] for k in pointwise["kernels"]] == ["_scalar", "_vec4"]
    assert [k[len(rows["name"]):] for k in rows["kernels"]] == ["_rows4", "_looped"]
    assert pointwise["host_entries"] == [pointwise["name"] + "_host_scalar", pointwise["name"] + "_host_vec4"]


def test_sources_hold_no_sizes_so_one_kernel_serves_every_shape():
    small, large = (debug.cuda_sources([torch.softmax(x * 2, -1)])[0]["name"]
                    for x in lazy(torch.randn(3, 10), torch.randn(300, 5000)))
    assert small == large


def test_host_numbers_are_kernel_arguments_so_a_new_value_needs_no_new_kernel():
    x = lazy(torch.randn(6, 33))[0]
    first, second = (debug.cuda_sources([x * lr + 1])[0] for lr in (0.5, 0.25))
    assert first["name"] == second["name"]
    assert first["by_value"] == [i["tensor"].dim() == 0 for i in first["inputs"]] and any(first["by_value"])
    assert "const double in" in first["text"] and "const long long in" in first["text"]  # 0.5 and the 1


def test_each_use_of_a_tensor_is_one_kernel_input():
    x = lazy(torch.randn(6, 33))[0]
    (region,) = debug.cuda_sources([(x * 2 + 1).relu() * x + x.tanh()])
    assert sum(i["tensor"].dtype == torch.float32 for i in region["inputs"]) == 1


# Every tile op, dtype, broadcast kind and row form, each case one graph (one or two regions).
def _floats(*shape):
    x = torch.randn(*shape) * 3
    x.view(-1)[:6] = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), float("nan"), 1e-40])
    return x


def unary_floats(x):
    p = x.abs() + 0.1
    finite = x.clamp(-1e4, 1e4)  # eager's gelu of inf and 3e38 depends on the CPU (test_random_graphs)
    return [torch.sigmoid(x), torch.tanh(x), torch.exp(x), torch.log(p), torch.sqrt(p), torch.rsqrt(p),
            torch.reciprocal(x), torch.erf(x), torch.sin(x), torch.cos(x), torch.log1p(p), torch.expm1(x),
            torch.floor(x), torch.ceil(x), torch.trunc(x), F.gelu(finite), F.gelu(finite, approximate="tanh"), F.silu(x),
            -x, x.abs(), x.relu()]


def binary_floats(x, y):
    return [x + y, x - y, x * y, x / y, torch.maximum(x, y), torch.minimum(x, y), torch.pow(x.abs(), y),
            x.clamp(-0.5, 0.5), torch.clamp(x, min=y), torch.clamp(x, max=y), x.add(y, alpha=0.3),
            torch.where(x > y, x, y), x < y, x <= y, x > y, x >= y, x == y, x != y]


def scalar_powers(x):
    a = x.abs()
    return [a.pow(2), a.pow(3), a.pow(0.5), a.pow(-0.5), a.pow(-1), a.pow(-2), a.pow(1.7)]


def logical(a, b):
    return [a & b, a | b, a ^ b, ~a, torch.logical_not(a), torch.logical_xor(a, b)]


def integers(i, j):
    return [i + j, i - j, i * j, torch.maximum(i, j), torch.minimum(i, j), i.abs(), -i, i < j, i == j,
            torch.where(i > 0, i, j), i / j.clamp(min=1)]


def rows(x, w, b):
    return [torch.softmax(x, -1), torch.log_softmax(x, -1), x.sum(-1), x.amax(-1), x.amin(-1), x.mean(-1),
            x.var(-1), F.layer_norm(x, x.shape[-1:], w, b)]


def broadcasts(x, row, col, other):
    return [x + row, x * col, x - 2.5, x + other]


def sum_and_scale(x):
    return [x.sum(-1, keepdim=True), x * 2]


CASES = {
    "unary_floats": (unary_floats, lambda: [_floats(8, 40)]),
    "binary_floats": (binary_floats, lambda: [_floats(8, 40), _floats(8, 40)]),
    "scalar_powers": (scalar_powers, lambda: [_floats(5, 11)]),
    "logical": (logical, lambda: [torch.rand(7, 9) > 0.5, torch.rand(7, 9) > 0.5]),
    "integers": (integers, lambda: [torch.randint(-9, 9, (6, 10)), torch.randint(-9, 9, (6, 10))]),
    "integer_rows": (lambda i: [i.sum(-1), i.amax(-1), i.amin(-1), torch.softmax(i.float(), -1)],
                     lambda: [torch.randint(-9, 9, (6, 10))]),
    "int32_and_uint8": (lambda i, u: [i * 3.5, u / 2, i < 3, (u > 50) & (i > 0)], lambda: [torch.randint(-9, 9, (5, 7), dtype=torch.int32),
                                                                  torch.randint(0, 99, (5, 7), dtype=torch.uint8)]),
    "double": (lambda x: [x.exp() * 2, torch.softmax(x, -1)], lambda: [torch.randn(4, 50, dtype=torch.float64)]),
    "bfloat16": (lambda x: [x * 3 + 1, torch.softmax(x, -1), x.float() / 3],
                 lambda: [torch.randn(6, 70).bfloat16()]),
    "float16": (lambda x: [x * 3 + 1, torch.softmax(x, -1), x.float() / 3], lambda: [torch.randn(6, 70).half()]),
    "rows": (rows, lambda: [_floats(12, 100), torch.randn(100), torch.randn(100)]),
    "short_rows": (rows, lambda: [torch.randn(33, 5), torch.randn(5), torch.randn(5)]),
    "long_rows": (rows, lambda: [torch.randn(3, 3000), torch.randn(3000), torch.randn(3000)]),
    "broadcasts": (broadcasts, lambda: [torch.randn(6, 9), torch.randn(6, 1), torch.randn(9), torch.randn(6, 1, 9)]),
    "materialized_broadcast": (lambda a, b: [a + b], lambda: [torch.randn(4, 1, 6), torch.randn(1, 5, 1)]),
    "odd_sizes": (lambda x: [x * 2 + 1], lambda: [torch.randn(7, 13)]),  # groups of 4 and a tail
    "per_row_output": (sum_and_scale, lambda: [torch.randn(6, 30)]),
    # Found by the random graphs: a 64-bit division spilled on sm_80 (rows and cols now divide in 32
    # bits where they fit); a bfloat16 row sum in another order rounds one bf16 ulp apart, and eager's
    # bfloat16 log_softmax, which rounds its sum to bfloat16, ten (the interpreter is the oracle).
    "two_outputs_and_a_column": (lambda x, c: [F.silu(x), torch.sub(F.silu(x), F.elu(c), alpha=-0.5)],
                                 lambda: [torch.randn(3, 3, 3), torch.tensor([0.0, 0.0, 3.0])]),
    # ... and the random graphs' CUDA hook: a 0-dim region reads alpha, a host number, as its full size.
    "zero_dim": (lambda x: [torch.add(x, x), x * 2 + 1], lambda: [torch.tensor(1.5)]),
    "bfloat16_log_softmax": (lambda x: [torch.log_softmax(torch.sin(x) + torch.sin(x), -1)],
                             lambda: [torch.tensor([0.0, 0.0, 1.0], dtype=torch.bfloat16)]),
    "bfloat16_log_softmax_of_a_rounded_sum": (lambda x: [torch.log_softmax(x + x, -1)],
                                              lambda: [torch.tensor([0.0, 0.0, 2.0], dtype=torch.bfloat16)]),
    # ... and a sum over rows of one element, which is every element: the renderer raised on it as on a
    # per-row output held in a full-size register.
    "sums_over_rows_of_one": (lambda x, y: [torch.add(x.sum(-1), x.sum(-1)), y.sum(-1) * 2],
                              lambda: [torch.tensor([1.5]), torch.randn(4, 1)]),
}
# How far eager may be (the CPU's own difference from eager, which test_random_graphs bounds)
EAGER_TOLERANCE = {"bfloat16_log_softmax_of_a_rounded_sum": {"atol": 3e-3, "rtol": 1.6e-2},
                   "long_rows": {"atol": 1e-4, "rtol": 1e-4}}  # sums of 3000 in another order


@pytest.mark.parametrize("case", CASES)
def test_host_twins_of_every_kernel_compute_what_the_cpu_computes(case):
    fn, make = CASES[case]
    torch.manual_seed(0)
    inputs = make()
    outputs = fn(*lazy(*inputs))
    regions = assert_host_twins_match_the_fused_lowering(outputs)
    assert regions, "the case fuses nothing"
    for got, want in zip(outputs, fn(*inputs)):
        torch.testing.assert_close(got.cpu(), want, equal_nan=True, **EAGER_TOLERANCE.get(case, {}))


@needs_nvrtc
@pytest.mark.parametrize("case", list(CASES) + list(BENCHMARK_REGIONS))
def test_every_region_compiles_for_sm80_and_sm90_without_spills(case):
    if case in CASES:
        fn, make = CASES[case]
        assert_regions_compile_for_gpus(fn(*lazy(*make())))
    else:
        assert_regions_compile_for_gpus(BENCHMARK_REGIONS[case]())


@needs_nvrtc
def test_a_kernel_compiles_once_then_comes_from_memory_then_from_the_disk_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYPLUS_KERNEL_CACHE", str(tmp_path))
    (region,) = debug.cuda_sources([chain(*lazy(torch.randn(100)))])
    cubin = lambda: _C._cuda_cubin(region["name"], region["text"], 90, "chain")  # noqa: E731
    _C._clear_kernel_memory_cache()
    metrics.reset()
    first, again = cubin(), cubin()
    assert (metrics.counters().get("CudaKernelCompiles"), metrics.counters().get("CudaKernelDiskHits")) == (1, None)
    major, minor = torch_lazyplus._nvrtc.version()
    assert os.listdir(tmp_path) == [f"{region['name']}_sm90_nvrtc{major}.{minor}.cubin"]
    _C._clear_kernel_memory_cache()  # as a new process would start
    assert cubin() == first == again
    assert (metrics.counters().get("CudaKernelCompiles"), metrics.counters().get("CudaKernelDiskHits")) == (1, 1)


@needs_nvrtc
def test_a_kernel_compiling_in_the_background_compiles_once_for_every_thread_that_asks(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYPLUS_KERNEL_CACHE", str(tmp_path))
    regions = debug.cuda_sources([torch.softmax(*lazy(torch.randn(4, 50)), -1) * 3, chain(*lazy(torch.randn(100)))])
    _C._clear_kernel_memory_cache()
    metrics.reset()
    for region in regions:  # as the CUDA lowering does for each region it compiles
        _C._compile_in_background(region["name"], region["text"], 90, " ".join(region["ops"]))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        cubins = list(pool.map(lambda r: _C._cuda_cubin(r["name"], r["text"], 90, "test"), regions * 4))
    assert cubins == cubins[:len(regions)] * 4
    assert (metrics.counters().get("CudaKernelCompiles"), metrics.counters().get("CudaKernelDiskHits")) == (2, None)


@needs_nvrtc
def test_a_kernel_that_does_not_compile_raises_naming_its_region_and_quoting_nvrtc(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYPLUS_KERNEL_CACHE", str(tmp_path))
    (region,) = debug.cuda_sources([lazy(torch.randn(10))[0].exp()])
    broken = region["text"].replace("lp_exp(", "lp_exq(")
    with pytest.raises(RuntimeError, match=r"(?s)fused region aten::exp at f.py:3 does not compile for sm_90.*lp_exq"):
        _C._cuda_cubin(region["name"] + "_broken", broken, 90, "aten::exp at f.py:3")
    assert os.listdir(tmp_path) == []


H200_SMS = 132


@pytest.mark.parametrize("rows, cols", [(1, 1), (7, 13), (4096, 4096), (1 << 14, 1 << 14)])
def test_pointwise_launches_use_vector_loads_only_on_aligned_buffers_and_a_grid_that_fills_the_gpu(rows, cols):
    for aligned, variant, per_thread in [(True, 1, 4), (False, 0, 1)]:
        got_variant, blocks, threads = _C._configure_launch(False, rows, cols, aligned, H200_SMS)
        assert (got_variant, threads) == (variant, 256)
        assert 1 <= blocks <= 8 * H200_SMS  # grid-stride: at most 2048 threads per SM
        assert blocks == 8 * H200_SMS or blocks * threads * per_thread >= rows * cols


@pytest.mark.parametrize("cols", [1, 5, 31, 100, 1024, 1025, 4096, 65536])
def test_row_launches_hold_rows_up_to_1024_in_registers_and_loop_over_longer_ones(cols):
    variant, blocks, threads = _C._configure_launch(True, 32768, cols, True, H200_SMS)
    assert threads % 32 == 0 and 32 <= threads <= (256 if cols <= 1024 else 1024)
    if cols <= 1024:
        assert variant == 0 and threads * 4 >= cols  # `_rows4`: the row fits in the block's registers
    else:
        assert variant == 1
    assert blocks == min(32768, 32 * H200_SMS)


CUDA_WHEEL = torch_lazyplus._nvrtc.wheel_folder(os.path.join("include", "crt", "host_config.h"))


GPU_SOURCES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "torch_lazyplus", "csrc", "backend",
                                            "cuda", "gpu", "*.cpp")))


@pytest.mark.skipif(CUDA_WHEEL is None, reason="the nvidia-cuda-runtime and -crt wheels are not installed")
@pytest.mark.parametrize("path", GPU_SOURCES, ids=os.path.basename)
def test_the_gpu_files_compile_against_cuda_headers_on_a_machine_without_cuda(path, tmp_path):
    """Syntax and types only: they link a CUDA build of torch, which a CPU machine lacks."""
    # The one generated header of torch's CUDA build that its CPU wheel does not ship.
    (tmp_path / "c10" / "cuda" / "impl").mkdir(parents=True)
    (tmp_path / "c10" / "cuda" / "impl" / "cuda_cmake_macros.h").write_text("#define C10_CUDA_BUILD_SHARED_LIBS\n")
    csrc = os.path.join(os.path.dirname(__file__), "..", "torch_lazyplus", "csrc")
    includes = [str(tmp_path), csrc, *include_paths(), os.path.join(CUDA_WHEEL, "include")]
    result = subprocess.run(["g++", "-std=c++20", "-fsyntax-only", *[f"-I{i}" for i in includes], path],  # as setup.py
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", ["chain_256M", "softmax_32768x4096", "layer_norm_32768x4096"])
def test_the_gpu_benchmark_finds_each_region_and_feeds_it_at_its_own_sizes(name):
    """benchmarks/gpu_kernels.py, checked where GPU time is not spent: at small sizes, on the CPU."""
    import gpu_kernels
    fn, shapes = gpu_kernels.WORKLOADS[name]
    shapes = [[s // 1024 if s > 1024 else s for s in shape] for shape in shapes]
    region, args, inputs, outputs = gpu_kernels.region_of(fn, shapes, device="cpu")
    assert region["rows"] * region["cols"] == args[0].numel()
    assert [t.data_ptr() for t in inputs if t.numel() > 1] == [a.data_ptr() for a in args]  # no copies
    assert all(t.numel() == 1 for t, by_value in zip(inputs, region["by_value"]) if by_value)
    assert [o.numel() for o in outputs] == [args[0].numel()]


RANDOM_GRAPHS = int(os.environ.get("LAZYPLUS_CUDA_RANDOM_GRAPHS", "40"))


@needs_nvrtc
@settings(max_examples=RANDOM_GRAPHS, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(random_graphs.programs())
def test_random_graphs_compile_for_gpus_and_their_host_twins_compute_what_the_cpu_computes(program):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outputs = program.function()(*lazy(*program.inputs))
    assert_regions_compile_for_gpus(outputs)
    assert_host_twins_match_the_fused_lowering(outputs)


def test_nvrtc_loads_where_the_test_requirements_are_installed():
    if torch_lazyplus._nvrtc.wheel_folder(os.path.join("lib", "libnvrtc.so.13")) is None:
        pytest.skip("nvidia-cuda-nvrtc is not installed")
    assert nvrtc_available(), torch_lazyplus._nvrtc.available()[1]


@pytest.mark.parametrize("step", [lambda y, w: y * 1.001 + 0.5,
                                  lambda y, w: torch.addcmul(y, w, y, value=0.3).clamp(-2.5, 2.5)],
                         ids=["mul_add", "addcmul_clamp"])
def test_a_long_chain_splits_into_regions_that_compile_without_spills(step):
    y, w = lazy(torch.randn(100), torch.randn(100))
    for _ in range(150):
        y = step(y, w)
    regions = debug.cuda_sources([y])
    assert [len(r["ops"]) for r in regions] == [64, 64, 64, 64, 44]
    if nvrtc_available():
        assert_regions_compile_for_gpus([y])
