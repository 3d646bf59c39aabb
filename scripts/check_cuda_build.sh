#!/usr/bin/env bash
# Builds lazyplus against a CUDA build of torch on a machine without a GPU, in a copy of the tree (the
# CPU build in this checkout stays as it is), and checks that the GPU part links and loads, that the
# default target is then the CPU, and that a launch and LAZYPLUS_TARGET=cuda raise cleanly without a
# driver. The venv (default /tmp/lazyplus-cuda-venv-$TORCH) gets torch $TORCH (default 2.14.1; 2.11.0 is
# the GPU machine's, both CUDA 13.0) on first use, and the CUDA runtime headers torch lacks
# (nvidia-cuda-crt): about 5.5 GB, a few minutes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TORCH=${TORCH:-2.14.1}
VENV=${VENV:-/tmp/lazyplus-cuda-venv-$TORCH}
[ -x "$VENV/bin/python" ] || { python3 -m venv "$VENV"; "$VENV/bin/pip" install -q "torch==$TORCH" nvidia-cuda-crt==13.0.88 numpy pyyaml ninja setuptools wheel; }
TREE=$(mktemp -d)
git -C "$ROOT" ls-files -co --exclude-standard | (cd "$ROOT" && xargs cp --parents -t "$TREE")
cd "$TREE"
start=$(date +%s)
"$VENV/bin/python" setup.py -q build_ext --inplace > build.log 2>&1 || { tail -40 build.log; exit 1; }
echo "CUDA variant built in $(( $(date +%s) - start )) s: $(ls torch_lazyplus/*.so | xargs -n1 basename | tr '\n' ' ')"
"$VENV/bin/python" - <<'PY'
import torch
import torch_lazyplus
from torch_lazyplus import _cuda, debug

print("torch", torch.__version__, "| GPU:", torch.cuda.is_available(), "| lazyplus target:", torch_lazyplus.target())
assert torch.ops.lazyplus.run_cuda_region.default.has_kernel_for_dispatch_key("CUDA")
(region,) = debug.cuda_sources([torch.randn(10).to("lazyplus").exp()])
try:
    _cuda.run_region(region, [torch.randn(10).cuda()], [torch.empty(10).cuda()])
    print("a kernel ran on", torch.cuda.get_device_name())
except (RuntimeError, AssertionError) as e:  # no GPU: torch's own error at the first CUDA tensor
    print("without a GPU the launch raises:", str(e).splitlines()[0])
PY
said=$(LAZYPLUS_TARGET=cuda "$VENV/bin/python" -c "import torch, torch_lazyplus; torch.ones(2, device='lazyplus')" 2>&1 || true)
grep -m1 -o "lazyplus: LAZYPLUS_TARGET=cuda needs.*" <<< "$said" || { echo "LAZYPLUS_TARGET=cuda without a GPU: $said"; exit 1; }
rm -rf "$TREE"
