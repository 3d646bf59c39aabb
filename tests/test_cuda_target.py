"""The CUDA target without a GPU. LAZYPLUS_TARGET=cuda-emulated runs the CUDA lowering's programs
(each fused region as its generated kernel, every other node as ATen) through the CUDA backend with
memory on the host: downloads are copies, as a GPU's are, and each region's kernel runs by its host
twin, the same CUDA C text compiled by g++, in the variant the GPU launcher picks
(torch_lazyplus/_cuda_emulation.py). Here the target-neutral suites run again so, in a fresh
interpreter. On a GPU, scripts/gpu_check.sh runs them with LAZYPLUS_TARGET=cuda."""
import json
import os
import subprocess
import sys

import pytest
import torch

HERE = os.path.dirname(__file__)
# Most fusion tests are left out: they hold the CPU lowering's own bits (oneDNN's gelu, the one-pass
# cross-entropy backward, eager's CPU softmax sums), which the GPU does not promise.
SUITES = ["test_training.py", "test_semantics.py", "test_failures.py", "test_threads.py", "test_device.py",
          "test_op_errors.py", "test_async_execution.py", "test_layers.py", "test_mixed_precision.py",
          "test_fusion.py::test_in_place_update_writes_over_the_old_value", "test_random_graphs.py"]
# A lone float32 gelu runs oneDNN (eager's nan for gelu(inf) here) only on the CPU target.
DESELECTED = ["test_random_graphs.py::test_gelu_of_infinity_and_huge_values_is_nan_and_inf_as_in_eager[dtype0]"]


def run(code, target):
    env = {k: v for k, v in os.environ.items() if k != "LAZYPLUS_TARGET"}
    if target:
        env["LAZYPLUS_TARGET"] = target
    return subprocess.run([sys.executable, "-c", "import torch, torch_lazyplus\n" + code], env=env,
                          capture_output=True, text=True, cwd=os.path.dirname(HERE))


@pytest.mark.parametrize("target", ["cpu", "cuda-emulated"])
def test_lazyplus_targets_what_LAZYPLUS_TARGET_names(target):
    ran = run("print(torch_lazyplus.target())", target)
    assert ran.stdout.strip() == target, ran.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="the default is cuda where torch sees a GPU")
def test_without_a_gpu_the_default_target_is_the_cpu():
    assert run("print(torch_lazyplus.target())", None).stdout.strip() == "cpu"


def test_an_unknown_target_names_the_ones_there_are():
    ran = run("torch.ones(2, device='lazyplus').cpu()", "tpu")
    assert "unknown LAZYPLUS_TARGET 'tpu'; available: cpu, cuda, cuda-emulated" in ran.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine can run the cuda target")
def test_the_cuda_target_without_a_gpu_says_what_it_needs():
    ran = run("torch.ones(2, device='lazyplus').cpu()", "cuda")
    assert "LAZYPLUS_TARGET=cuda needs a GPU that torch sees" in ran.stderr


REGION_KERNELS = """
import json
from torch_lazyplus._cuda_emulation import launches
torch.manual_seed(0)
cases = {
    "_vec4": (lambda x: x.sigmoid() * 2 + 1, torch.randn(1000)),
    "_scalar": (lambda x: x[1:] * 3 - 1, torch.randn(1001)),  # x[1:] is not aligned to 4 floats
    "_rows4": (lambda x: torch.softmax(x, -1), torch.randn(8, 100)),
    "_looped": (lambda x: torch.layer_norm(x, (3000,)) * 2, torch.randn(4, 3000)),
}
result = {}
for case, (fn, x) in cases.items():
    launches.clear()
    error = (fn(x.to("lazyplus")).cpu() - fn(x)).abs().max().item()
    result[case] = [dict(launches), error]
print(json.dumps(result))
"""


def test_fused_regions_run_their_generated_kernels_in_the_variant_the_launcher_picks():
    ran = run(REGION_KERNELS, "cuda-emulated")
    assert ran.returncode == 0, ran.stderr[-3000:]
    for variant, (launched, error) in json.loads(ran.stdout.splitlines()[-1]).items():
        assert launched == {variant: 1} and error < 1e-5, (variant, launched, error)


def test_suites_pass_on_the_emulated_cuda_target():
    suites = [os.path.join(HERE, s) for s in SUITES]
    deselected = [arg for test in DESELECTED for arg in ("--deselect", "tests/" + test)]  # ids from the rootdir
    env = dict(os.environ, LAZYPLUS_TARGET="cuda-emulated")
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *suites, *deselected]
    out = subprocess.run(command, env=env, capture_output=True, text=True, cwd=os.path.dirname(HERE))
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    assert " passed" in out.stdout.splitlines()[-1]


CPU_ONLY_PATHS = """
import json
import torch.nn.functional as F
torch.manual_seed(0)
lstm, x, q = torch.nn.LSTM(8, 16, num_layers=2), torch.randn(5, 4, 8), torch.randn(2, 4, 6, 8)
want = [lstm(x)[0], F.scaled_dot_product_attention(q, q, q, is_causal=True)]
lazy_q = q.to("lazyplus")
got = [lstm.to("lazyplus")(x.to("lazyplus"))[0],
       F.scaled_dot_product_attention(lazy_q, lazy_q, lazy_q, is_causal=True)]
errors = [(g.cpu() - w).abs().max().item() for g, w in zip(got, want)]
counters = torch_lazyplus.metrics.counters()
nodes = [k for k in ("lazy::mkldnn_rnn_layer", "lazy::_scaled_dot_product_flash_attention_for_cpu") if k in counters]
print(json.dumps([errors, nodes]))
"""


@pytest.mark.parametrize("target, nodes", [
    ("cpu", ["lazy::mkldnn_rnn_layer", "lazy::_scaled_dot_product_flash_attention_for_cpu"]),
    ("cuda-emulated", []),  # the decompositions: oneDNN's and the CPU flash kernel take host memory
])
def test_rnn_layers_and_attention_run_the_cpus_kernels_only_on_the_cpu_target(target, nodes):
    ran = run(CPU_ONLY_PATHS, target)
    assert ran.returncode == 0, ran.stderr[-3000:]
    errors, recorded = json.loads(ran.stdout.splitlines()[-1])
    assert recorded == nodes and max(errors) < 1e-5, (recorded, errors)


HOST_READS = """
import json
x = torch.arange(1 << 20, dtype=torch.float32).to("lazyplus") * 2
torch_lazyplus.sync()


def downloaded(read):
    before = torch_lazyplus.metrics.counters().get("DownloadedBytes", 0)
    value = read()
    return [torch_lazyplus.metrics.counters().get("DownloadedBytes", 0) - before, value]


grid = x.view(1024, 1024)
print(json.dumps([downloaded(lambda: x[12345].item()), downloaded(lambda: grid[3, 5:9].tolist()),
                  downloaded(lambda: grid[:, 7].cpu()[-1].item()), downloaded(lambda: x.cpu()[-1].item())]))
"""


def test_a_host_read_copies_only_the_span_of_elements_it_reads():
    """On the CUDA target every host read is a copy from device memory: `x[i].item()` of a 4 MiB x
    copies its 4 bytes, a slice of a row its elements, a column the span from its first element to its
    last, the whole tensor all of it."""
    ran = run(HOST_READS, "cuda-emulated")
    assert ran.returncode == 0, ran.stderr[-3000:]
    item, row, column, whole = json.loads(ran.stdout.splitlines()[-1])
    assert item == [4, 24690.0]
    assert row == [16, [6154.0, 6156.0, 6158.0, 6160.0]]
    assert column == [(1023 * 1024 + 1) * 4, 2 * (1023 * 1024 + 7)]
    assert whole == [4 << 20, 2.0 * ((1 << 20) - 1)]
