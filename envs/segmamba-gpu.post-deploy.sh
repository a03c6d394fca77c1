#!/usr/bin/env bash
# Runs inside the freshly created segmamba-gpu environment (Snakemake post-deploy script).
# 1. mamba-ssm and causal-conv1d: fused CUDA kernels; they need the torch installed above at build time
#    (--no-build-isolation). Without CUDA they are skipped and SegMamba uses its own CPU/pure-torch scan.
# 2. The segmamba package itself (editable, from this checkout), without touching the pinned dependencies.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
if command -v nvcc >/dev/null 2>&1 || python -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    pip install --no-build-isolation mamba-ssm==2.3.2.post1 causal-conv1d==1.7.0
else
    echo "no CUDA found: skipping mamba-ssm / causal-conv1d (the CPU scan is used)" >&2
fi
pip install --no-deps -e "$repo"
