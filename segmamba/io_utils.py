"""Atomic file writes: write to a temporary file in the target folder, then rename over the target.

A reader never sees a half-written file, and a kill mid-write leaves any previous version intact. A write
that fails (a full disk, a lost permission) raises :class:`~segmamba.errors.OutputWriteError` naming the
target and the free space; the temporary file is removed. Temporaries left by a killed process are removed
by :func:`remove_stale_temporaries` when a step starts writing into a folder again.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from segmamba.errors import OutputWriteError

#: Names of the temporary files of :func:`atomic_path`: ``.<target name>.<8 random characters>.tmp<suffix>``.
TEMPORARY_NAME = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp(\.[^/]*)?$")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``.

    Args:
        target: final file path. Its parent folder is created if needed.
        suffix: suffix of the temporary file (defaults to the target's full suffix, so that
            libraries choosing a format by extension, like nibabel's ``.nii.gz``, still work).

    Raises:
        OutputWriteError: creating, writing or renaming failed with an ``OSError`` (e.g. ENOSPC); the
            message names ``target``, the cause and the free space. Other exceptions pass unchanged.
    """
    target = Path(target)
    if suffix is None:
        suffix = "".join(target.suffixes)
    tmp_path = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        os.chmod(tmp_path, 0o666 & ~_current_umask())  # mkstemp creates 0600; results must stay readable
        yield tmp_path
        os.replace(tmp_path, target)
    except OutputWriteError:
        raise
    except OSError as exc:
        raise write_error(target, exc) from exc
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def write_error(target: str | os.PathLike, exc: Exception) -> OutputWriteError:
    """The one-line error of a failed write of ``target``: the path, the cause (ENOSPC said in words; a library's
    own error, e.g. torch's ``RuntimeError`` on a full disk, by its first line) and the free space left."""
    target = Path(target)
    code = getattr(exc, "errno", None)
    strerror = getattr(exc, "strerror", None)
    cause = f"{errno.errorcode.get(code, code)}: {strerror}" if strerror else (str(exc).splitlines() or [""])[0]
    if code == errno.ENOSPC:
        cause = f"no space left on the device ({cause})"
    error = OutputWriteError(f"could not write {target}: {' '.join(cause.split())}; {_free_space(target)}")
    error.errno = code
    return error


def _free_space(target: Path) -> str:
    folder = next((p for p in [target.parent, *target.parents] if p.is_dir()), None)
    if folder is None:
        return "free space unknown"
    try:
        return f"{shutil.disk_usage(folder).free / 2**20:.1f} MiB free in {folder}"
    except OSError:
        return "free space unknown"


def remove_stale_temporaries(folder: str | os.PathLike, target_name: str | None = None) -> list[Path]:
    """Remove the temporary files of :func:`atomic_path` that a killed process left in ``folder``.

    Call it when a step starts writing into ``folder`` (no other writer may be running there).

    Args:
        folder: searched with its subfolders when ``target_name`` is None.
        target_name: only the temporaries of this one file, directly in ``folder``.

    Returns:
        The removed files (each is also named on stderr).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    candidates = folder.glob(f".{target_name}.*") if target_name else folder.rglob(".*")
    removed = []
    for path in sorted(candidates):
        match = TEMPORARY_NAME.match(path.name)
        if match and path.is_file() and (target_name is None or match["target"] == target_name):
            path.unlink()
            removed.append(path)
            print(f"removed {path}: a temporary file left by an interrupted write", file=sys.stderr)
    return removed


def _current_umask() -> int:
    """The process umask (reading it requires setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def write_json_atomic(target: str | os.PathLike, obj: Any, indent: int = 2) -> None:
    """Write ``obj`` as JSON (sorted keys, trailing newline) to ``target`` atomically."""
    write_text_atomic(target, json.dumps(obj, indent=indent, sort_keys=True) + "\n")
