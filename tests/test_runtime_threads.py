"""A job's threads (OMP_NUM_THREADS, set by Snakemake from `threads:`) reach numba and torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from segmamba.runtime import apply_job_threads, job_threads

REPO = Path(__file__).resolve().parents[1]

#: Start the command line (which applies the job's threads), then report numba's and torch's thread counts.
PROBE = (
    "from segmamba.cli import main\n"
    "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
    "import numba, torch\nprint(numba.get_num_threads(), torch.get_num_threads())\n"
)


def probe(**variables: str) -> list[int]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")}
    env.update(PYTHONPATH=str(REPO), **variables)
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    return [int(value) for value in done.stdout.split()[-2:]]


@pytest.mark.parametrize(("value", "expected"), [("3", 3), (" 2 ", 2), ("", None), ("0", None), ("two", None)])
def test_job_threads_reads_omp_num_threads(value, expected):
    assert job_threads({"OMP_NUM_THREADS": value}) == expected
    assert job_threads({}) is None


def test_apply_sets_numba_threads_for_a_later_import_and_leaves_a_manual_run_alone():
    environ = {"OMP_NUM_THREADS": "1"}
    assert apply_job_threads(environ) == 1 and environ["NUMBA_NUM_THREADS"] == "1"
    untouched: dict[str, str] = {}
    assert apply_job_threads(untouched) is None and untouched == {}


@pytest.mark.slow  # two interpreters importing torch and numba
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: numba's default is already one thread")
def test_a_one_thread_job_runs_numba_and_torch_on_one_thread():
    assert probe(OMP_NUM_THREADS="1") == [1, 1]
    # Without the job's threads numba takes every core: the setting above is what made it one.
    assert probe()[0] == os.cpu_count()
