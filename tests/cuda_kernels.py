"""Checks of the CUDA target's generated kernels that need no GPU (used by several test files):

* NVRTC compiles each region's source for sm_80 and sm_90, and no kernel spills registers;
* each kernel's host twin (the same text compiled by g++) computes what the CPU's fused lowering
  computes for the same region (its tile interpreter runs the same tile program), on the region's real
  inputs. The fused lowering is held to eager elsewhere (test_fusion, test_random_graphs, with error
  bounds where eager's own rounding order differs: bfloat16 log_softmax rounds its sum to bfloat16).

NVRTC comes from the ``nvidia-cuda-nvrtc`` wheel of ``requirements-test.txt``."""
import re
import tempfile

import torch

import torch_lazyplus
from torch_lazyplus import _nvrtc, debug
from torch_lazyplus._cuda_emulation import build_host_twins, host_call

ARCHS = (80, 90)
_nvrtc_logs = {}  # (region name, arch) -> (ok, log): a region's text compiles once per session


def nvrtc_available():
    return _nvrtc.available()[0]


def gpu_compile_problems(region):
    """What keeps `region` from compiling cleanly for the GPUs: errors and spills (empty: none)."""
    problems = []
    for arch in ARCHS:
        key = (region["name"], arch)
        if key not in _nvrtc_logs:
            result = _nvrtc.compile(region["text"], region["name"], arch)
            _nvrtc_logs[key] = result["ok"], result["log"]
        ok, log = _nvrtc_logs[key]
        if not ok:
            problems.append(f"sm_{arch} does not compile:\n{log}")
        spills = [line.strip() for line in log.splitlines() if re.search(r"\b[1-9]\d* bytes spill", line)]
        if spills:
            problems.append(f"sm_{arch} spills: {spills}")
    return problems


def assert_regions_compile_for_gpus(tensors):
    """Every region of the graph computing `tensors` compiles for sm_80 and sm_90 without spills."""
    for region in debug.cuda_sources(tensors):
        problems = gpu_compile_problems(region)
        assert not problems, f"region of {region['ops']}:\n" + "\n".join(problems)


def _poisoned(like, device):
    """A buffer for `like` holding what no element computes to, so an element left unwritten shows."""
    if like.dtype == torch.bool:
        return torch.full(like.shape, 2, dtype=torch.uint8, device=device).view(torch.bool)  # neither 0 nor 1
    value = -777 if like.dtype.is_floating_point else torch.iinfo(like.dtype).max - 3
    return torch.full(like.shape, value, dtype=like.dtype, device=device)


def _comparable(t):
    return t.view(torch.uint8) if t.dtype == torch.bool else t


# torch.testing's default tolerances, by dtype
_TOLERANCE = {torch.float16: (1e-3, 1e-5), torch.bfloat16: (1.6e-2, 1e-5), torch.float32: (1.3e-6, 1e-5),
              torch.float64: (1e-7, 1e-7)}


def _row_sum_tolerance(dtype, cols):
    """A row sum's rounding grows with the row: a host twin adds in order in one thread, eager in
    vector lanes (3000 randn elements: 7e-5 apart), a GPU in a tree."""
    rtol, atol = _TOLERANCE[dtype]
    scale = max(1, cols / 64)
    return {"rtol": max(rtol, 1.3e-6 * scale), "atol": max(atol, 1e-5 * scale)}


def region_inputs(region, device):
    """The values a region's kernel reads, as it reads them: contiguous, broadcasts it cannot index
    expanded, host numbers on the host."""
    values = []
    for i, by_value in zip(region["inputs"], region["by_value"]):
        value = i["tensor"].cpu()
        if i["materialize"]:
            value = value.reshape(i["sizes"]).expand(region["shape"])
        values.append(value.contiguous() if by_value else value.contiguous().to(device))
    return values


def assert_kernels_match_the_fused_lowering(tensors, runners, device="cpu"):
    """For every region of the graph computing `tensors`, runs each (label, run) of `runners(region)`
    (run(inputs, outputs) computes the outputs in place) and compares every output with the fused
    lowering's value of the same node."""
    regions = debug.cuda_sources(tensors)
    with torch_lazyplus.use_lowering("fused"):
        for region in regions:
            expected = [o["tensor"].cpu() for o in region["outputs"]]
            inputs = region_inputs(region, device)
            for label, run in runners(region):
                outputs = [_poisoned(o["tensor"], device) for o in region["outputs"]]
                run(inputs, outputs)
                for got, want in zip(outputs, expected):
                    tolerance = (_row_sum_tolerance(want.dtype, region["cols"])
                                 if region["whole_rows"] and want.is_floating_point() else {})
                    torch.testing.assert_close(_comparable(got.cpu()), _comparable(want), equal_nan=True,
                                               msg=lambda m: f"{label} of {region['ops']}: {m}", **tolerance)
    return regions


def assert_host_twins_match_the_fused_lowering(tensors):
    """Every kernel variant of every region, run by its host twin, computes the fused lowering's values."""
    regions = debug.cuda_sources(tensors)
    if not regions:
        return regions
    with tempfile.TemporaryDirectory() as folder:
        library = build_host_twins(regions, folder)

        def twins(region):
            return [(entry, host_call(library, entry, region["rows"], region["cols"])) for entry in region["host_entries"]
                    if not (entry.endswith("_rows4") and region["cols"] > 1024)]  # longer rows run looped

        return assert_kernels_match_the_fused_lowering(tensors, twins)

