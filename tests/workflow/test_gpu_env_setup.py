"""envs/segmamba-gpu.post-deploy.sh never leaves mamba-ssm out silently: it fails, or skips on an explicit opt-out.

``pip``, ``python`` and ``nvcc`` are stand-ins on PATH that log their arguments and succeed or fail on demand.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "envs" / "segmamba-gpu.post-deploy.sh"


def stand_in(folder: Path, name: str, fail_when: str | None) -> None:
    """An executable ``name`` that appends its arguments to calls.log and exits 1 when they contain ``fail_when``."""
    check = f'case "$*" in *{fail_when}*) exit 1;; esac\n' if fail_when else ""
    path = folder / name
    path.write_text(f'#!/bin/sh\necho "{name} $*" >> "{folder}/calls.log"\n{check}exit 0\n')
    path.chmod(0o755)


def run_post_deploy(tmp_path: Path, pip_fails: str | None = None, import_fails: bool = False, nvcc: bool = True,
                    skip: str | None = None) -> tuple[subprocess.CompletedProcess, list[str]]:  # fmt: skip
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in(bin_dir, "pip", pip_fails)
    stand_in(bin_dir, "python", "selective_scan_cuda" if import_fails else None)
    if nvcc:
        stand_in(bin_dir, "nvcc", None)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    if skip is not None:
        env["SEGMAMBA_SKIP_MAMBA_SSM"] = skip
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    log = bin_dir / "calls.log"
    return result, log.read_text().splitlines() if log.exists() else []


def test_installs_and_checks_the_kernels_then_the_package(tmp_path):
    result, calls = run_post_deploy(tmp_path)
    assert result.returncode == 0, result.stderr
    assert calls[0] == "pip install --no-build-isolation mamba-ssm==2.3.2.post1 causal-conv1d==1.7.0"
    assert calls[1] == "python -c import torch, selective_scan_cuda, causal_conv1d_cuda"
    assert calls[2].startswith("pip install --no-deps -e ")


@pytest.mark.parametrize("nvcc", [True, False])
def test_a_failed_kernel_build_fails_loudly_with_the_ways_out(tmp_path, nvcc):
    result, calls = run_post_deploy(tmp_path, pip_fails="mamba-ssm", nvcc=nvcc)
    assert result.returncode == 1
    assert "ERROR: could not install mamba-ssm" in result.stderr
    assert "SEGMAMBA_SKIP_MAMBA_SSM=1" in result.stderr and "module load cuda" in result.stderr
    assert ("nvcc not found" in result.stderr) is not nvcc
    assert not any("--no-deps -e" in call for call in calls)  # the environment is not completed


def test_kernels_that_do_not_import_fail(tmp_path):
    result, _ = run_post_deploy(tmp_path, import_fails=True)
    assert result.returncode == 1 and "do not import" in result.stderr


def test_explicit_opt_out_skips_the_kernels_and_says_so(tmp_path):
    result, calls = run_post_deploy(tmp_path, nvcc=False, skip="1")
    assert result.returncode == 0, result.stderr
    assert "NOT installing mamba-ssm" in result.stderr and "Triton" in result.stderr
    assert len(calls) == 1 and calls[0].startswith("pip install --no-deps -e ")


def test_opt_out_needs_the_exact_value(tmp_path):
    result, calls = run_post_deploy(tmp_path, pip_fails="mamba-ssm", skip="yes")
    assert result.returncode == 1 and calls[0].startswith("pip install --no-build-isolation mamba-ssm")


def test_script_is_executable_bash():
    assert os.access(SCRIPT, os.X_OK) and SCRIPT.read_text().startswith("#!/usr/bin/env bash")
