"""Device selection, seeding, thread counts and process exit shared by the command line and its stages.

Importing this module is cheap (torch and numpy are imported by the functions that use them), so the
command line can apply a job's thread count before any stage module is imported.
"""

from __future__ import annotations

import atexit
import os
import random
import sys
import threading
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import torch

#: Set by Snakemake for every shell job to the job's ``threads`` (also GOTO/OPENBLAS/MKL/VECLIB/NUMEXPR_...).
THREADS_VARIABLE = "OMP_NUM_THREADS"


def job_threads(environ: Mapping[str, str] = os.environ) -> int | None:
    """The job's thread count from ``OMP_NUM_THREADS``; None when it is unset, empty or not a positive integer."""
    value = environ.get(THREADS_VARIABLE, "").strip()
    if not value.isdigit() or int(value) < 1:
        return None
    return int(value)


def apply_job_threads(environ: MutableMapping[str, str] = os.environ) -> int | None:
    """Make torch, numba and the BLAS libraries use the job's threads (``OMP_NUM_THREADS``); returns them.

    Snakemake exports ``OMP_NUM_THREADS`` and the BLAS variables for a job's ``threads``, and torch's
    intra-op pool follows ``OMP_NUM_THREADS`` when torch is imported later. numba does not: its pool starts
    with one thread per core unless ``NUMBA_NUM_THREADS`` is set, so two 1-thread jobs on two cores would
    each run two scan threads. This sets ``NUMBA_NUM_THREADS`` for a numba imported later, and calls
    ``torch.set_num_threads`` / ``numba.set_num_threads`` for one imported already. Without
    ``OMP_NUM_THREADS`` (a command run by hand) nothing changes and the libraries use every core.
    """
    threads = job_threads(environ)
    if threads is None:
        return None
    environ["NUMBA_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    if "numba" in sys.modules:
        numba = sys.modules["numba"]
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    return threads


def select_device(requested: str = "auto") -> torch.device:
    """Return the torch device to run on.

    Args:
        requested: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
            Under torchrun, ``"auto"`` picks ``cuda:$LOCAL_RANK``.
    """
    import torch

    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} requested but CUDA is not available on this machine")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) with ``seed``."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def exit_process(code: int) -> NoReturn:
    """End the process with exit status ``code``, skipping the interpreter's teardown of its modules.

    A Python process that imported torch and MONAI spends 1-2 s (on a 2-core machine) after its last
    statement tearing down thousands of modules and objects; a workflow of 125 short jobs pays it in each.
    Everything a normal exit does that a job's results depend on runs first: the ``atexit`` handlers (which
    include logging's flush and close, ``weakref.finalize`` clean-ups such as temporary directories, and
    multiprocessing's), then stdout and stderr are flushed; then ``os._exit``. While any non-daemon thread other
    than the main one is still running, the normal exit (which waits for it) is taken instead.
    """
    others = [thread for thread in threading.enumerate() if thread is not threading.main_thread()]
    if any(thread.is_alive() and not thread.daemon for thread in others):
        sys.exit(code)
    atexit._run_exitfuncs()  # the handlers a normal exit runs (os._exit skips them)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: a normal exit would not deliver it either
            pass
    os._exit(code & 0xFF)
