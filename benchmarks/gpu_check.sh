#!/usr/bin/env bash
# The GPU check of the CUDA paths, in one table (see benchmarks/gpu_check.py): every CUDA scan backend against the
# reference, the scan at L = 262,144 (triton vs torch), one SegMamba training step at 128^3 (batch 2, AMP) and
# Table 5 at 128^3 (UX-Net, SwinUNETR, M6, SegMamba). About 5-8 minutes on one H100/H200-class GPU; it works
# with and without mamba-ssm ("not installed"). Run from anywhere, in the environment with segmamba installed:
#
#   bash benchmarks/gpu_check.sh                 # on a GPU node
#   bash benchmarks/gpu_check.sh --cpu-dry-run   # the same code on a CPU, small sizes, Triton interpreted
#
# Further arguments go to gpu_check.py (e.g. --sections scan,training --budget 300).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ "${1:-}" = "--cpu-dry-run" ]; then
    shift
    export TRITON_INTERPRET=1  # before triton is imported: the Triton scan runs on CPU tensors, interpreted
    narrow='{"segmamba": {"feat_size": [8, 16, 32, 64], "hidden_size": 64, "depths": [1, 1, 1, 1]},
             "segmamba_m6": {"feat_size": [8, 16, 32, 64], "hidden_size": 64, "depths": [1, 1, 1, 1]},
             "uxnet": {"feat_size": [8, 16, 32, 64], "hidden_size": 64, "depths": [1, 1, 1, 1]},
             "swinunetr": {"feature_size": 12, "depths": [1, 1, 1, 1], "norm_name": "batch"}}'
    exec python "$here/gpu_check.py" --device cpu --size 32 --check-length 40 --scan-length 16384 \
        --backends mamba_ssm,triton,torch,numba --overrides "$narrow" --budget 900 --section-timeout 300 "$@"
fi
exec python "$here/gpu_check.py" "$@"
