"""Predict label maps for preprocessed cases of a split, or for raw scans of a dataset folder.

For each case: sliding-window logits (with mirror TTA) on the preprocessed grid ->
``segmamba.data.preprocess.restore_to_original`` (resample scores, argmax, un-crop) -> uint8 NIfTI with the
original affine at ``OUT/<case>.nii.gz``. Cases whose output exists are skipped unless ``overwrite``.

Provenance: the checkpoint's data fingerprint (:mod:`segmamba.data.fingerprint`) must equal that of the split
and preprocessed folder at hand (only the preprocessing part without a split), so a model is never applied to
a split it was not trained for. ``OUT/provenance.json`` records the checkpoint and its fingerprint, which
``segmamba evaluate --split`` checks; predictions of another checkpoint are never mixed into one folder.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from segmamba.cost.predict import PredictionCostLog
from segmamba.data.fingerprint import (
    PROVENANCE_FILE,
    canonical_hash,
    file_sha256,
    fingerprint_differences,
    split_fingerprint,
)
from segmamba.data.split import load_split
from segmamba.errors import InputError
from segmamba.inference.sliding_window import predict_logits
from segmamba.io_utils import atomic_path, write_json_atomic
from segmamba.predict.settings import PredictSettings

logger = logging.getLogger("segmamba.predict")


def write_label_map(path: str | os.PathLike, labels: np.ndarray, affine: np.ndarray) -> None:
    """Save an integer label map (X, Y, Z) as uint8 NIfTI with ``affine`` (qform and sform), atomically."""
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"label map must be 3-D (X, Y, Z), got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError(f"label values must lie in 0..255 for uint8, got {labels.min()}..{labels.max()}")
    affine = np.asarray(affine, dtype=np.float64)
    image = nib.Nifti1Image(labels.astype(np.uint8), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    image.header.set_xyzt_units("mm")
    with atomic_path(path) as tmp:
        nib.save(image, tmp)


@dataclass
class PreparedCase:
    """A case on the preprocessed grid plus what is needed to map the prediction back."""

    case_id: str
    image: np.ndarray  # (C, x, y, z) float32, preprocessed
    properties: dict
    affine: np.ndarray  # original 4x4


def subset_case_ids(split_path: str | Path, subset: str) -> list[str]:
    """The case ids of one subset (e.g. ``test``) of a split.json."""
    try:
        split = json.loads(Path(split_path).read_text())
        return list(split[subset])
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"split file {split_path}: cannot read it ({exc})") from exc
    except KeyError as exc:
        raise InputError(f"split file {split_path}: no subset {subset!r}") from exc


def preprocessed_case_ids(preprocessed_dir: str | Path) -> list[str]:
    """All case folders of a preprocessed dataset (those holding an image.npy)."""
    return sorted(p.parent.name for p in Path(preprocessed_dir).glob("*/image.npy"))


def iter_preprocessed_cases(preprocessed_dir: str | Path, case_ids: list[str]) -> Iterator[PreparedCase]:
    """Yield preprocessed cases (labels are not used)."""
    from segmamba.data.preprocessed_reader import load_case

    for case_id in case_ids:
        image, _, properties = load_case(preprocessed_dir, case_id)
        if "affine" not in properties:
            raise InputError(f"case {case_id}: {Path(preprocessed_dir) / case_id / 'properties.json'} has no affine")
        yield PreparedCase(case_id, image, properties, np.asarray(properties["affine"], dtype=np.float64))


def iter_raw_cases(reader, case_ids: list[str], dataset_json: dict) -> Iterator[PreparedCase]:
    """Yield raw scans of an opened dataset folder, preprocessed like the training data (labels not needed)."""
    from segmamba.data.preprocess import preprocess_image

    available = set(reader.case_ids())
    missing = sorted(set(case_ids) - available)
    if missing:
        raise InputError(f"{reader.root}: cases not found in the raw folder: {', '.join(missing[:5])}")
    for case_id in case_ids:
        case = reader.load_case(case_id)
        image, properties = preprocess_image(case.image, case.affine, case.spacing, dataset_json)
        yield PreparedCase(case_id, image, properties, np.asarray(case.affine, dtype=np.float64))


def predict_case(model: torch.nn.Module, case: PreparedCase, roi_size, options: PredictSettings) -> np.ndarray:
    """Label map of one case in its original geometry (X, Y, Z) uint8."""
    from segmamba.data.preprocess import restore_to_original

    logits = predict_logits(
        model, case.image, roi_size, options.overlap, options.sw_batch_size, tta=options.tta, amp=options.amp
    )
    return np.asarray(restore_to_original(logits.numpy(), case.properties)).astype(np.uint8)


def predict_cases(
    model: torch.nn.Module,
    cases: Iterator[PreparedCase] | list[PreparedCase],
    out_dir: str | Path,
    roi_size,
    options: PredictSettings,
) -> list[str]:
    """Predict and write ``out_dir/<case>.nii.gz`` for each case; returns the ids written this time."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    costs = PredictionCostLog(out_dir, next(model.parameters()).device)  # prediction_log.json, docs/cost.md
    for case in cases:
        target = out_dir / f"{case.case_id}.nii.gz"
        start = time.monotonic()
        with costs.measure(case.case_id):
            labels = predict_case(model, case, roi_size, options)
        write_label_map(target, labels, case.affine)
        written.append(case.case_id)
        logger.info("%s: %s %s in %.1fs", case.case_id, target, labels.shape, time.monotonic() - start)
    return written


def pending(case_ids: list[str], out_dir: str | Path, overwrite: bool) -> list[str]:
    """Cases still to predict: those without an output file (all of them with ``overwrite``)."""
    if overwrite:
        return list(case_ids)
    return [c for c in case_ids if not (Path(out_dir) / f"{c}.nii.gz").is_file()]


def check_checkpoint_fingerprint(checkpoint, meta: dict, split, preprocessed_dir, dataset_json: dict) -> dict:
    """Refuse a checkpoint trained on another split or preprocessing than ``split`` and ``preprocessed_dir``.

    Without ``split`` only the preprocessing is compared. Returns the checkpoint's fingerprint.

    Raises:
        InputError: one line naming the checkpoint, the data and what differs (or that nothing was recorded).
    """
    saved = meta.get("data_fingerprint")
    current = {
        "split": split_fingerprint(load_split(split)) if split is not None else None,
        "preprocessing": canonical_hash(dataset_json),
    }
    parts = ("split", "preprocessing") if split is not None else ("preprocessing",)
    differences = fingerprint_differences(saved, current, parts)
    if differences:
        data = f"split {split} and {preprocessed_dir}" if split is not None else str(preprocessed_dir)
        raise InputError(
            f"checkpoint {checkpoint} was not trained on the data of {data} ({'; '.join(differences)}); "
            "retrain it (the workflow does so), or pass the split and preprocessed folder it was trained on"
        )
    return saved


def check_output_provenance(out_dir, provenance: dict) -> None:
    """Refuse to add predictions to a folder holding another checkpoint's or data's predictions."""
    path = Path(out_dir) / PROVENANCE_FILE
    if not path.is_file():
        if any(Path(out_dir).glob("*.nii.gz")):
            raise InputError(
                f"{out_dir} holds predictions of unknown origin (no {PROVENANCE_FILE}); use an empty folder"
            )
        return
    try:
        recorded = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read the predictions' provenance ({exc}); use an empty folder") from exc
    if any(recorded.get(key) != provenance[key] for key in ("checkpoint_sha256", "data_fingerprint", "subset")):
        raise InputError(
            f"{out_dir} holds predictions of another checkpoint or data ({path}: checkpoint "
            f"{recorded.get('checkpoint')}); use another --out folder or empty it"
        )


def run_prediction(
    checkpoint: str | Path,
    preprocessed_dir: str | Path,
    out_dir: str | Path,
    options: PredictSettings,
    split: str | Path | None = None,
    subset: str = "test",
    dataset: str | None = None,
    raw_root: str | Path | None = None,
    device: str = "auto",
) -> dict:
    """Predict every selected case with the model of ``checkpoint``.

    Args:
        checkpoint: a training checkpoint (``checkpoint_final.pt`` / ``checkpoint_best.pt``).
        preprocessed_dir: preprocessed training data; its dataset.json defines how raw scans are preprocessed.
        out_dir: output folder for ``<case>.nii.gz``.
        options: sliding-window / TTA settings.
        split: optional split.json; with it only the cases of ``subset`` are predicted.
        subset: split key to use (``test`` by default).
        dataset, raw_root: read raw scans (labels not needed) from ``raw_root`` in the layout of ``dataset``
            instead of the preprocessed cases.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Returns:
        ``{"cases": n selected, "predicted": [...], "skipped": [...]}``.
    """
    from segmamba.data.preprocessed_reader import load_dataset_json
    from segmamba.models.checkpoint import check_checkpoint_dataset, load_model
    from segmamba.runtime import select_device

    if (dataset is None) != (raw_root is None):
        raise InputError("--dataset and --root must be given together")
    dataset_json = load_dataset_json(preprocessed_dir)
    model, meta = load_model(checkpoint, select_device(device))
    check_checkpoint_dataset(checkpoint, meta, preprocessed_dir, dataset_json)
    fingerprint = check_checkpoint_fingerprint(checkpoint, meta, split, preprocessed_dir, dataset_json)
    roi_size = tuple(options.roi_size or meta["model"]["patch_size"])
    reader = None
    if dataset is not None:
        from segmamba.data.datasets import open_dataset

        reader = open_dataset(dataset, raw_root, require_labels=False)
    if split is not None:
        case_ids = subset_case_ids(split, subset)
    elif reader is not None:
        case_ids = reader.case_ids()
    else:
        case_ids = preprocessed_case_ids(preprocessed_dir)
    if not case_ids:
        raise InputError(f"no cases to predict (split {split}, subset {subset}, folder {raw_root or preprocessed_dir})")
    provenance = {
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": file_sha256(checkpoint),
        "data_fingerprint": fingerprint,
        "subset": subset if split is not None else None,
    }
    if not options.overwrite:
        check_output_provenance(out_dir, provenance)
    write_json_atomic(Path(out_dir) / PROVENANCE_FILE, provenance)
    todo = pending(case_ids, out_dir, options.overwrite)
    todo_ids = set(todo)
    skipped = [c for c in case_ids if c not in todo_ids]
    if skipped:
        logger.info("skipping %d case(s) already predicted in %s (use --overwrite to redo)", len(skipped), out_dir)
    cases = (
        iter_raw_cases(reader, todo, dataset_json)
        if reader is not None
        else iter_preprocessed_cases(preprocessed_dir, todo)
    )
    predicted = predict_cases(model, cases, out_dir, roi_size, options)
    return {"cases": len(case_ids), "predicted": predicted, "skipped": skipped}
