"""Reading a preprocessed folder written by ``segmamba preprocess``."""

from __future__ import annotations

import json
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


def load_case(directory: str | Path, case_id: str, mmap: bool = True) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """(image float32 (C,X,Y,Z), label int8 (1,X,Y,Z) or None, properties) of one preprocessed case.

    With ``mmap`` the arrays are read-only memory maps.
    """
    folder = Path(directory) / case_id
    mode = "r" if mmap else None
    try:
        image = np.load(folder / "image.npy", mmap_mode=mode)
        properties = json.loads((folder / "properties.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"case {case_id}: preprocessed files in {folder} missing or corrupt ({exc})") from exc
    label_path = folder / "label.npy"
    label = np.load(label_path, mmap_mode=mode) if label_path.exists() else None
    return image, label, properties


def load_foreground_locations(directory: str | Path, case_id: str) -> np.ndarray:
    """Sampled foreground voxels of a case as int32 rows (class, x, y, z); empty (0, 4) when absent."""
    path = Path(directory) / case_id / "fg_locations.npy"
    return np.load(path) if path.exists() else np.zeros((0, 4), np.int32)
