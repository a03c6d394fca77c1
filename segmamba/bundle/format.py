"""The bundle file: a zip holding ``bundle.json`` (the manifest, plain JSON) and ``weights.pt`` (the model's
state dict alone, so ``torch.load(..., weights_only=True)`` reads it).

Manifest keys: ``format``, ``package_version``, ``created``, ``source`` (where the weights came from),
``model`` (registry name and constructor arguments, as in a checkpoint's ``model`` entry), ``dataset`` (the
checkpoint's training-data record: name, channels, labels, regions, classes), ``preprocessing`` (the
preprocessed ``dataset.json``: modality, target spacing, per-channel normalisation, without its case lists),
``training`` (settings and progress of the run, or None), ``data_fingerprint`` (when the run recorded one),
``scan_backend``.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from segmamba.errors import InputError
from segmamba.io_utils import atomic_path

BUNDLE_FORMAT = "segmamba-bench/bundle/1"
MANIFEST = "bundle.json"
WEIGHTS = "weights.pt"
REQUIRED_KEYS = ("model", "dataset", "preprocessing")
#: dataset.json entries left out of a bundle: the case lists (case names may identify patients).
PRIVATE_PREPROCESSING_KEYS = ("case_ids", "statistics_case_ids")


def write_bundle(path: str | os.PathLike, manifest: dict[str, Any], state_dict: dict) -> Path:
    """Write the bundle zip atomically: ``bundle.json`` (with the format tag) and ``weights.pt``."""
    import torch

    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise ValueError(f"bundle manifest lacks {', '.join(missing)}")
    weights = io.BytesIO()
    torch.save({name: tensor.detach().cpu() for name, tensor in state_dict.items()}, weights)
    path = Path(path)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps({"format": BUNDLE_FORMAT, **manifest}, indent=2, sort_keys=True))
        archive.writestr(WEIGHTS, weights.getvalue())
    return path


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a bundle (no torch needed); InputError for a file that is not a bundle."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model bundle {path} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read(MANIFEST))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError) as exc:
        raise InputError(
            f"model {path}: not a segmamba-bench bundle ({exc}); give a run folder or a bundle of segmamba export"
        ) from exc
    if manifest.get("format") != BUNDLE_FORMAT:
        raise InputError(f"model bundle {path}: format {manifest.get('format')!r}, expected {BUNDLE_FORMAT!r}")
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise InputError(f"model bundle {path}: {MANIFEST} lacks {', '.join(missing)}")
    return manifest


def read_bundle(path: str | os.PathLike) -> tuple[dict[str, Any], dict]:
    """``(manifest, state_dict)`` of a bundle; the weights are loaded with ``weights_only=True``."""
    import torch

    manifest = read_manifest(path)
    try:
        with zipfile.ZipFile(path) as archive:
            state_dict = torch.load(io.BytesIO(archive.read(WEIGHTS)), map_location="cpu", weights_only=True)
    except Exception as exc:  # a missing member, a truncated file or a pickle that is not plain tensors
        raise InputError(f"model bundle {path}: cannot read {WEIGHTS} ({exc})") from exc
    return manifest, state_dict
