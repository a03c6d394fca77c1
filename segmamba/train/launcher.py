"""``segmamba train --nproc N``: start N local DDP processes (what torchrun does, plus exit-code handling).

Each child runs ``python -m segmamba train --settings RUN_DIR/train_config.yaml`` with RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR and MASTER_PORT set. SIGTERM/SIGUSR1 are forwarded to the children, so a
preempted job still saves its checkpoint; the launcher exits 75 if any child was preempted.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from segmamba.train import PREEMPTED_EXIT_CODE
from segmamba.train.preemption import STOP_SIGNALS

FAILURE_GRACE_S = 60.0


def free_port() -> int:
    """A TCP port on localhost that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def combined_exit_code(codes: list[int]) -> int:
    """0 if all children succeeded, 75 if any was preempted, else the first failure code."""
    if PREEMPTED_EXIT_CODE in codes:
        return PREEMPTED_EXIT_CODE
    failures = [c for c in codes if c != 0]
    return failures[0] if failures else 0


def launch_local(nproc: int, config_path: Path) -> int:
    """Run ``nproc`` training processes on this machine and wait for them; returns the combined exit code."""
    port = free_port()
    children = []
    for rank in range(nproc):
        env = dict(
            os.environ,
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(nproc),
            LOCAL_WORLD_SIZE=str(nproc),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
        )
        command = [sys.executable, "-m", "segmamba", "train", "--settings", str(config_path)]
        children.append(subprocess.Popen(command, env=env))

    def forward(signum, frame):
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in STOP_SIGNALS}
    try:
        failed_at = None
        while any(child.poll() is None for child in children):
            codes = [child.poll() for child in children]
            if failed_at is None and any(c not in (None, 0, PREEMPTED_EXIT_CODE) for c in codes):
                failed_at = time.monotonic()  # a crashed rank leaves the others blocked in collectives
                forward(signal.SIGTERM, None)
            if failed_at is not None and time.monotonic() - failed_at > FAILURE_GRACE_S:
                for child in children:
                    if child.poll() is None:
                        child.kill()
            time.sleep(0.2)
        return combined_exit_code([child.returncode for child in children])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
