#!/usr/bin/env bash
# The CUDA target's checks on a GPU machine, in one go (estimated 10 minutes on an H200 with 16 cores; never run):
# build against the machine's CUDA torch, run the GPU tests and the kernel benchmark. Everything it
# prints also lands in $OUT (default gpu_results/). Kernels compile into a fresh cache folder.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_results}
mkdir -p "$OUT"
export LAZYPLUS_KERNEL_CACHE; LAZYPLUS_KERNEL_CACHE=$(mktemp -d)
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; nproc; python --version
  python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } 2>&1 | tee "$OUT/machine.txt"
start=$(date +%s)
if ! MAX_JOBS=$(nproc) pip install --no-build-isolation --no-deps -e . > "$OUT/build.log" 2>&1; then
  tail -40 "$OUT/build.log"; exit 1
fi
echo "build: $(( $(date +%s) - start )) s" | tee -a "$OUT/machine.txt"
# The generated kernels region by region against the CPU target's fused lowering.
LAZYPLUS_TARGET=cpu python -m pytest tests/cuda tests/test_cuda_codegen.py -q -p no:cacheprovider 2>&1 | tee "$OUT/tests.txt" | tail -25
# The CUDA target: lazyplus on the GPU, against eager (the OpInfo sweep: eager CPU); pass counts for the note.
LAZYPLUS_TARGET=cuda timeout 180 python -m pytest tests/cuda/test_cuda_backend.py tests/test_training.py tests/test_opinfo.py \
  -q -p no:cacheprovider 2>&1 | tee "$OUT/cuda_target_tests.txt" | tail -25
python benchmarks/gpu_kernels.py --json "$OUT/gpu_kernels.json" 2>&1 | tee "$OUT/bench.txt"
