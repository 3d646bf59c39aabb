"""The fused lowering computes as eager does on every instruction set its tile interpreter is built
for. Eager's kernels round differently per ISA (an AVX2 sum adds its lanes in another order than an
AVX-512 one), so the interpreter follows eager's choice (ATEN_CPU_CAPABILITY, else the CPU's best);
LAZYPLUS_TILE_ISA forces one. Here the OpInfo, fusion (random graphs included), training, recurrent-layer,
attention and batch-norm tests run again, in a fresh interpreter, under each ISA path this CPU has other than the
one the suite ran."""
import os
import subprocess
import sys

import pytest
import torch

import torch_lazyplus

HERE = os.path.dirname(__file__)
SUITES = ["test_opinfo.py", "test_fusion.py", "test_random_graphs.py", "test_training.py", "test_sequence_models.py",
          "test_small_attention.py", "test_batch_norm_training.py", "test_layer_norm.py",
          "test_column_sums.py", "test_vector_norm.py"]


def isa_env(isa):
    return dict(os.environ, LAZYPLUS_TILE_ISA=isa, ATEN_CPU_CAPABILITY=isa)


ISAS = ["default", "avx2", "avx512"]  # each CPU that has one has those before it


def cpu_has(isa):
    # ATen reports an ISA it is asked for even when the CPU lacks it: ask for none.
    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "LAZYPLUS_TILE_ISA")}
    probe = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    best = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    return ISAS.index(isa) <= ISAS.index(best.stdout.strip().lower())


def test_the_interpreter_follows_eagers_isa():
    assert torch_lazyplus.debug.tile_isa() == torch.backends.cpu.get_cpu_capability().lower()


@pytest.mark.parametrize("isa", ["avx512", "avx2", "default"])
def test_suites_pass_under_every_isa(isa):
    if isa == torch_lazyplus.debug.tile_isa():
        pytest.skip(f"the suite itself ran under {isa}")
    if not cpu_has(isa):
        pytest.skip(f"this CPU has no {isa}")
    check = "import torch_lazyplus; print(torch_lazyplus.debug.tile_isa())"
    ran = subprocess.run([sys.executable, "-c", check], env=isa_env(isa), capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == isa
    suites = [os.path.join(HERE, s) for s in SUITES if os.path.exists(os.path.join(HERE, s))]
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *suites],
                         env=isa_env(isa), capture_output=True, text=True, cwd=os.path.dirname(HERE))
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    assert " passed" in out.stdout.splitlines()[-1]
