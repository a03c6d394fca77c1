"""benchmarks/gpu_check.py on a CPU: the scan sections run end to end and a missing mamba-ssm is reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.mark.slow
def test_gpu_check_dry_run_prints_one_table_with_every_scan_backend():
    command = [sys.executable, str(SCRIPT), "--device", "cpu", "--sections", "backends,scan", "--backends",
               "mamba_ssm,torch", "--check-length", "8", "--scan-length", "2048", "--budget", "120"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("GPU check on CPU (dry run)") and "mamba-ssm" in lines[0]
    rows = [line for line in lines if line.startswith(("scan vs reference", "scan fwd+bwd"))]
    assert any("mamba_ssm" in r and "not installed" in r for r in rows if r.startswith("scan vs reference"))
    assert any("mamba_ssm" in r and "not installed" in r for r in rows if r.startswith("scan fwd+bwd"))
    torch_checks = [r for r in rows if r.startswith("scan vs reference") and " torch " in r]
    assert len(torch_checks) == 2 and all(r.endswith(" ok") for r in torch_checks)
    assert any(" torch " in r and "peak" in r for r in rows if r.startswith("scan fwd+bwd L=2,048"))
