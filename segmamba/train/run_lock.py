"""One training per run folder: an advisory lock on ``RUN_DIR/.lock``, and the sweep of stale temp files.

The lock is ``fcntl.flock`` on a file in the run folder: the kernel releases it when the holding process dies
(also by SIGKILL), so no stale lock survives a crash. A second ``segmamba train`` on the same folder (by hand,
or a rerun started while an orphaned training still runs) stops with an error naming the holder's PID and host.
Once the lock is held, temporary files left by a killed write (``.<name>.*.tmp*``) are removed.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from pathlib import Path

from segmamba.errors import ConfigError

logger = logging.getLogger("segmamba.train")

LOCK_NAME = ".lock"


class RunFolderLock:
    """Exclusive lock of a run folder, held from :meth:`acquire` until :meth:`release` or process exit."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> RunFolderLock:
        """Take the lock, or raise ConfigError naming the PID and host of the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "an unknown process"
            os.close(fd)
            raise ConfigError(
                f"run folder {self.path.parent} is in use by another training ({holder}); wait for it or stop "
                f"it, or train into another --out folder"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Release the lock (the file stays; it is only a lock)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def remove_stale_temp_files(run_dir: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of interrupted atomic writes (``.<name>.*.tmp*``) in ``run_dir``.

    Only call this while holding the run folder's lock: no other writer can be using them then.
    """
    removed = []
    for path in sorted(Path(run_dir).glob(".*.tmp*")):
        if path.is_file():
            path.unlink()
            removed.append(path)
    if removed:
        logger.warning("removed %d stale temporary file(s) of an interrupted write: %s", len(removed), removed)
    return removed
