#!/usr/bin/env bash
# The CUDA target's checks on a GPU machine (never run yet): build against the machine's CUDA torch,
# run each region's kernel on the GPU, the CUDA target's suites and the kernel benchmark. Stages, in
# this order; with no argument all four run, in one command:
#   build    pip install --no-build-isolation --no-deps -e . (the machine's torch, no registry)
#   kernels  tests/cuda and tests/test_cuda_codegen.py: the generated kernels against the CPU target
#   target   LAZYPLUS_TARGET=cuda: tests/cuda/test_cuda_backend.py, the training tests, the OpInfo sweep
#   bench    benchmarks/gpu_kernels.py
# A device call may run 10 minutes: `scripts/gpu_check.sh build kernels`, then `target bench` on the
# same machine, keeps each call inside it (the OpInfo sweep takes 110 s on the 2-core CPU target here,
# and compiles each new region with NVRTC on the GPU). Everything printed also lands in $OUT (default
# gpu_results/). Kernels compile into a fresh cache folder per call.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_results}
mkdir -p "$OUT"
export LAZYPLUS_KERNEL_CACHE; LAZYPLUS_KERNEL_CACHE=$(mktemp -d)
# torch's test harness (common_utils, which the OpInfo sweep imports) imports expecttest, which the GPU
# machine lacks, with no registry to install it from; the sweep uses none of its assertions, so a
# module with the two names common_utils reads stands in.
if ! python -c "import expecttest" 2> /dev/null; then
  stand_in=$(mktemp -d)
  printf 'import unittest\nACCEPT = False\nTestCase = unittest.TestCase\n' > "$stand_in/expecttest.py"
  export PYTHONPATH="$stand_in${PYTHONPATH:+:$PYTHONPATH}"
fi

build() {
  { nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; nproc; python --version
    python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } 2>&1 | tee "$OUT/machine.txt"
  local start; start=$(date +%s)
  if ! MAX_JOBS=$(nproc) pip install --no-build-isolation --no-deps -e . > "$OUT/build.log" 2>&1; then
    tail -40 "$OUT/build.log"; exit 1
  fi
  echo "build: $(( $(date +%s) - start )) s" | tee -a "$OUT/machine.txt"
}

kernels() {
  LAZYPLUS_TARGET=cpu timeout 300 python -m pytest tests/cuda tests/test_cuda_codegen.py -q -p no:cacheprovider 2>&1 \
    | tee "$OUT/tests.txt" | tail -25
}

# Against eager (the OpInfo sweep: eager CPU); pass counts for the note.
target() {
  LAZYPLUS_TARGET=cuda timeout 480 python -m pytest tests/cuda/test_cuda_backend.py tests/test_training.py \
    tests/test_opinfo.py -q -p no:cacheprovider 2>&1 | tee "$OUT/cuda_target_tests.txt" | tail -25
}

bench() {
  timeout 300 python benchmarks/gpu_kernels.py --json "$OUT/gpu_kernels.json" 2>&1 | tee "$OUT/bench.txt"
}

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(build kernels target bench)
for stage in "${stages[@]}"; do
  case "$stage" in
    build | kernels | target | bench) "$stage" ;;
    *) echo "gpu_check.sh: unknown stage '$stage' (build, kernels, target, bench)"; exit 2 ;;
  esac
done
