"""Evaluate a folder of predicted label maps against a folder of ground-truth label maps.

Both folders hold ``<case>.nii.gz`` label maps in the original geometry. Every ground-truth case must
have a prediction with the same shape and affine; the voxel spacing is read from the ground-truth
header. Writes a per-case CSV and ``<stem>.summary.json`` beside it (our per-column statistics plus the
nnU-Net v2 summary, see :mod:`segmamba.evaluate.summary`), both atomically.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np

from segmamba.errors import InputError
from segmamba.evaluate.summary import nnunet_summary, prediction_fingerprint, summarise_values
from segmamba.evaluate.tasks import CaseScores, EvaluationTask, get_task
from segmamba.io_utils import atomic_path, write_json_atomic

LABEL_SUFFIX = ".nii.gz"
AFFINE_TOLERANCE = 1e-4


def list_cases(folder: Path) -> dict[str, Path]:
    """Map case id -> path of every ``<case>.nii.gz`` in a folder (sorted by case id); hidden files (a partial
    ``.<case>.nii.gz.<random>.tmp.nii.gz`` of an interrupted write) are not cases."""
    return {
        p.name[: -len(LABEL_SUFFIX)]: p
        for p in sorted(folder.glob(f"*{LABEL_SUFFIX}"))
        if p.is_file() and not p.name.startswith(".")
    }


def load_label_map(path: Path, case: str, allowed_labels: frozenset[int]) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Read a 3D integer label map; returns (labels, affine, spacing). Bad files raise InputError."""
    try:
        image = nib.load(str(path))
        data = np.asanyarray(image.dataobj)
    except Exception as exc:  # nibabel raises several types for unreadable files
        raise InputError(f"case {case}: cannot read label map {path}: {exc}") from exc
    if data.ndim != 3:
        raise InputError(f"case {case}: {path} has shape {data.shape}; expected a 3D label map")
    if not np.issubdtype(data.dtype, np.integer):
        if not np.all(np.isfinite(data)) or not np.array_equal(data, np.round(data)):
            raise InputError(f"case {case}: {path} holds non-integer values; expected a label map")
    labels = data.astype(np.int64)
    unexpected = sorted(set(np.unique(labels).tolist()) - allowed_labels)
    if unexpected:
        raise InputError(
            f"case {case}: {path} contains unexpected labels {unexpected}; "
            f"expected a subset of {sorted(allowed_labels)}"
        )
    spacing = tuple(float(z) for z in image.header.get_zooms()[:3])
    return labels, image.affine, spacing


def evaluate_case(task: EvaluationTask, case: str, prediction_path: Path, truth_path: Path, convention: str):
    """Load one prediction / ground-truth pair, check their geometry and score them."""
    truth, truth_affine, spacing = load_label_map(truth_path, case, task.labels)
    prediction, prediction_affine, _ = load_label_map(prediction_path, case, task.labels)
    if prediction.shape != truth.shape:
        raise InputError(
            f"case {case}: prediction {prediction_path} has shape {prediction.shape} but ground truth "
            f"{truth_path} has {truth.shape}"
        )
    if not np.allclose(prediction_affine, truth_affine, rtol=0, atol=AFFINE_TOLERANCE):
        raise InputError(
            f"case {case}: prediction {prediction_path} and ground truth {truth_path} have different affines"
        )
    scores = task.score(task, case, prediction, truth, spacing, convention)
    return dataclasses.replace(scores, prediction_file=str(prediction_path), reference_file=str(truth_path))


def evaluate_folders(
    dataset: str | EvaluationTask,
    prediction_dir: str | os.PathLike,
    truth_dir: str | os.PathLike,
    convention: str = "segmamba",
    workers: int = 1,
) -> list[CaseScores]:
    """Score every ground-truth case of ``truth_dir`` against ``prediction_dir`` (sorted by case id).

    ``dataset`` is a layout name with fixed labels or a task from :func:`get_task`. Raises InputError when
    a folder is missing or empty or a ground-truth case has no prediction. Extra predictions without
    ground truth are ignored.
    """
    task = dataset if isinstance(dataset, EvaluationTask) else get_task(dataset)
    prediction_dir, truth_dir = Path(prediction_dir), Path(truth_dir)
    for role, folder in (("prediction", prediction_dir), ("ground-truth", truth_dir)):
        if not folder.is_dir():
            raise InputError(f"evaluate: {role} folder {folder} does not exist")
    truths = list_cases(truth_dir)
    if not truths:
        raise InputError(f"evaluate: no ground-truth label maps (*{LABEL_SUFFIX}) in {truth_dir}")
    predictions = list_cases(prediction_dir)
    missing = [case for case in truths if case not in predictions]
    if missing:
        raise InputError(
            f"case {missing[0]}: no prediction {prediction_dir / (missing[0] + LABEL_SUFFIX)} for ground truth "
            f"{truths[missing[0]]} ({len(missing)} case(s) missing in total)"
        )
    jobs = [(task, case, predictions[case], truths[case], convention) for case in truths]
    if workers <= 1 or len(jobs) == 1:
        return [evaluate_case(*job) for job in jobs]
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        return list(pool.map(evaluate_case, *zip(*jobs, strict=True)))


def summarise_cases(task: EvaluationTask, scores: list[CaseScores], convention: str) -> dict:
    """Summary JSON content: nnU-Net v2's ``metric_per_case``, ``mean`` and ``foreground_mean`` (and
    ``key_names``), and ours: per metric column mean, std, n, n_undefined and the counts of empty masks."""
    metrics = {}
    for column in task.columns:
        summary = summarise_values(s.values[column] for s in scores)
        pred_empty = [s.prediction_empty.get(column, False) for s in scores]
        truth_empty = [s.ground_truth_empty.get(column, False) for s in scores]
        summary["n_empty"] = sum(p or t for p, t in zip(pred_empty, truth_empty, strict=True))
        summary["n_empty_prediction"] = sum(pred_empty)
        summary["n_empty_ground_truth"] = sum(truth_empty)
        metrics[column] = summary
    return {
        "dataset": task.dataset,
        "convention": convention if task.uses_convention else None,
        "n_cases": len(scores),
        "metrics": metrics,
        **nnunet_summary(scores, task.key_names),
    }


def summary_path(csv_path: str | os.PathLike) -> Path:
    """``metrics.csv`` -> ``metrics.summary.json`` (same folder, same stem)."""
    csv_path = Path(csv_path)
    return csv_path.with_name(f"{csv_path.stem}.summary.json")


def write_results(
    task: EvaluationTask, scores: list[CaseScores], csv_path: str | os.PathLike, convention: str, fingerprint=None
):
    """Write the per-case CSV (``case`` then the task's columns) and its summary JSON (with the predictions'
    data fingerprint) atomically."""
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("case", *task.columns))
        for case_scores in scores:
            writer.writerow((case_scores.case, *(repr(float(case_scores.values[c])) for c in task.columns)))
    summary = {**summarise_cases(task, scores, convention), "data_fingerprint": fingerprint}
    write_json_atomic(summary_path(csv_path), summary)


def run_evaluation(
    dataset: str,
    prediction_dir,
    truth_dir,
    csv_path,
    convention: str = "segmamba",
    workers: int = 1,
    root=None,
    regions: dict | None = None,
    name: str | None = None,
    nsd_tolerance=None,
    split=None,
) -> dict:
    """Evaluate the folders, write the CSV and summary JSON, and return the summary.

    ``root`` and ``regions`` are those of an nnU-Net dataset, ``name`` the dataset's own name in the summary
    (:func:`segmamba.evaluate.tasks.get_task`), ``nsd_tolerance`` the NSD tolerance in mm (one number or
    {region column suffix: mm}; default 1 mm). With ``split``, predictions made by a model of another split
    are refused (:func:`segmamba.evaluate.summary.prediction_fingerprint`).
    """
    fingerprint = prediction_fingerprint(prediction_dir, split)
    task = get_task(dataset, root, regions, name, nsd_tolerance)
    scores = evaluate_folders(task, prediction_dir, truth_dir, convention, workers)
    write_results(task, scores, csv_path, convention, fingerprint)
    return summarise_cases(task, scores, convention)
