"""Reading a preprocessed folder written by ``segmamba preprocess``."""

from __future__ import annotations

import errno
import json
import resource
from pathlib import Path

import numpy as np

from segmamba.errors import InputError


def load_dataset_json(directory: str | Path) -> dict:
    """The preprocessed folder's ``dataset.json`` (dataset info, target spacing, normalisation, case ids)."""
    path = Path(directory) / "dataset.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InputError(f"preprocessed folder {directory}: file {path}: missing (run `segmamba preprocess`)") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"preprocessed folder {directory}: file {path}: not valid JSON ({exc})") from exc


def open_file_limit() -> int:
    """The soft limit on open file descriptors of this process (``ulimit -n``)."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def read_error(case_id: str, path: Path, exc: BaseException) -> InputError:
    """The one-line error for a file of a preprocessed case that could not be opened or parsed."""
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
        return InputError(
            f"case {case_id}: cannot open {path}: too many open files (the open-file limit of this process, "
            f"`ulimit -n`, is {open_file_limit()}); raise it or use fewer loader workers"
        )
    if isinstance(exc, FileNotFoundError):
        return InputError(f"case {case_id}: {path}: missing (rerun `segmamba preprocess`)")
    return InputError(f"case {case_id}: {path}: unreadable or corrupt ({type(exc).__name__}: {exc})")


def open_array(path: str | Path, case_id: str, mmap: bool = True) -> np.ndarray:
    """One ``.npy`` array of a preprocessed case, as a read-only memory map with ``mmap`` (one open descriptor
    until the map is released) or read into memory; errors name the case, the file and, for a full descriptor
    table, the limit."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None)
    except (OSError, ValueError, EOFError) as exc:
        raise read_error(case_id, Path(path), exc) from exc


def load_case(directory: str | Path, case_id: str, mmap: bool = True) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """(image float32 (C,X,Y,Z), label int8 (1,X,Y,Z) or None, properties) of one preprocessed case.

    With ``mmap`` the arrays are read-only memory maps.
    """
    folder = Path(directory) / case_id
    image = open_array(folder / "image.npy", case_id, mmap)
    properties_path = folder / "properties.json"
    try:
        properties = json.loads(properties_path.read_text())
    except (OSError, ValueError) as exc:
        raise read_error(case_id, properties_path, exc) from exc
    label_path = folder / "label.npy"
    label = open_array(label_path, case_id, mmap) if label_path.exists() else None
    return image, label, properties


def load_foreground_locations(directory: str | Path, case_id: str) -> np.ndarray:
    """Sampled foreground voxels of a case as int32 rows (class, x, y, z); empty (0, 4) when absent."""
    path = Path(directory) / case_id / "fg_locations.npy"
    return open_array(path, case_id, mmap=False) if path.exists() else np.zeros((0, 4), np.int32)
