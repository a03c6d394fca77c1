#!/usr/bin/env bash
# Runs inside the freshly created segmamba-gpu environment (Snakemake post-deploy script).
# 1. mamba-ssm and causal-conv1d: the reference CUDA kernels of the selective scan and the causal conv. They
#    are built against the torch installed above (--no-build-isolation), which needs nvcc (a CUDA toolkit;
#    no GPU is needed to build). When they cannot be installed this script FAILS, so that no GPU run silently
#    uses another scan. Without nvcc, either
#      - build the environments where nvcc is available: load the CUDA toolkit first (e.g. `module load cuda`,
#        or set CUDA_HOME), or run `snakemake --sdm conda --conda-create-envs-only` inside a GPU job; or
#      - opt out explicitly: SEGMAMBA_SKIP_MAMBA_SSM=1 snakemake --sdm conda --conda-create-envs-only
#        GPU runs then use segmamba's Triton scan (Triton ships with torch's CUDA builds, nothing to compile);
#        train_summary.json and the efficiency JSONs record the scan backend that ran.
# 2. The segmamba package itself (editable, from this checkout), without touching the pinned dependencies.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
kernels=(mamba-ssm==2.3.2.post1 causal-conv1d==1.7.0)

if [ "${SEGMAMBA_SKIP_MAMBA_SSM:-0}" = "1" ]; then
    echo "SEGMAMBA_SKIP_MAMBA_SSM=1: NOT installing ${kernels[*]}; the selective scan on GPUs will be segmamba's" \
        "Triton kernels (scan_backend 'triton' in train_summary.json and the efficiency JSONs)" >&2
else
    if ! command -v nvcc >/dev/null 2>&1; then
        echo "WARNING: nvcc not found; building ${kernels[*]} will fail unless prebuilt wheels match this torch" >&2
    fi
    if ! pip install --no-build-isolation "${kernels[@]}"; then
        cat >&2 <<EOF
ERROR: could not install ${kernels[*]} (they compile against torch with nvcc).
  nvcc: $(command -v nvcc || echo "not found")   CUDA_HOME: ${CUDA_HOME:-not set}
Either create the environments where a CUDA toolkit is available (e.g. \`module load cuda\` first, or inside a
GPU job), or opt out explicitly and use segmamba's Triton scan on GPUs:
  SEGMAMBA_SKIP_MAMBA_SSM=1 snakemake --sdm conda --conda-create-envs-only
EOF
        exit 1
    fi
    # the extensions must load (a build against another torch fails here, not in the first training job)
    if ! python -c "import torch, selective_scan_cuda, causal_conv1d_cuda"; then
        echo "ERROR: mamba-ssm / causal-conv1d were installed but their CUDA extensions do not import (see above)." \
            "Rebuild them against this torch, or opt out with SEGMAMBA_SKIP_MAMBA_SSM=1." >&2
        exit 1
    fi
fi
pip install --no-deps -e "$repo"
