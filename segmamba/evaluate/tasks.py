"""What ``segmamba evaluate`` scores for each dataset: allowed labels, CSV columns and the per-case metric.

A task is built from the dataset's definition in :mod:`segmamba.data.registry`:

- overlap datasets score Dice and pooled HD95 (medpy, real spacing) of every region, a region being the
  union of its labels: BraTS WT = {1,2,3}, TC = {1,3}, ET = {3} (``dice_wt`` ... ``hd95_et``); CRC-500 the
  tumour label 1 (``dice``, ``hd95``); an nnU-Net dataset each foreground label of its dataset.json, or the
  configured regions, named ``dice_<name>`` / ``hd95_<name>`` in lower case, plus the per-case means over
  them, ``dice_mean`` and ``hd95_mean``;
- every overlap region also gets its normalised surface Dice at the configured tolerance (``nsd_wt``, ``nsd``,
  ``nsd_<name>`` and ``nsd_mean``), and BraTS 2023 the challenge's lesion-wise Dice and HD95
  (``lesion_dice_wt`` ... ``lesion_hd95_et``; :mod:`segmamba.evaluate.lesionwise`);
- AIIB2023 scores the airway tree metrics (IoU, DLR, DBR, precision, leakage) and the NSD (``nsd``) of label 1.

Each case also gets nnU-Net v2-style metrics per label or region (see :mod:`segmamba.evaluate.summary`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segmamba.data.dataset_config import read_nnunet_dataset_json
from segmamba.data.registry import (
    AIIB_COLUMNS,
    LESION_WISE_DATASET,
    MEAN_SUFFIX,
    NNUNET,
    DatasetDefinition,
    get_definition,
)
from segmamba.errors import InputError
from segmamba.evaluate.airway import airway_score
from segmamba.evaluate.lesionwise import lesion_wise_score
from segmamba.evaluate.overlap import DEFAULT_NSD_TOLERANCE_MM, region_score
from segmamba.evaluate.surface import surface_dice, surfel_distances

NSD = "nsd"


@dataclass(frozen=True)
class CaseScores:
    """One case's scores.

    Attributes:
        values: CSV column -> value.
        prediction_empty, ground_truth_empty: per CSV column, whether that mask was empty.
        label_metrics: nnU-Net key of a label (``"1"``) or region (``"(1, 2)"``) -> {metric name: value}.
        prediction_file, reference_file: the scored files (set by the folder evaluation).
    """

    case: str
    values: dict[str, float]
    prediction_empty: dict[str, bool] = field(default_factory=dict)
    ground_truth_empty: dict[str, bool] = field(default_factory=dict)
    label_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    prediction_file: str = ""
    reference_file: str = ""


@dataclass(frozen=True)
class EvaluationTask:
    """A dataset's evaluation.

    Attributes:
        dataset: the dataset's name (its own, or the layout's).
        labels: label values the label maps may hold (background included).
        columns: metric columns of the CSV, in order.
        score: per-case scorer ``score(task, case, prediction, truth, spacing, convention)``.
        regions: Dice/HD95 regions as {column suffix: labels} ("" for plain ``dice`` / ``hd95``).
        region_keys: column suffix (or, for AIIB, the region name) -> its nnU-Net summary key.
        key_names: nnU-Net summary key -> the label or region name (dataset.json or config).
        mean_columns: also write ``dice_mean`` / ``hd95_mean`` / ``nsd_mean``, the per-case means over the regions.
        uses_convention: whether the empty-mask convention applies.
        nsd_tolerance_mm: NSD tolerance (mm) per column suffix of ``regions`` (AIIB: its one region).
        lesion_wise: also score the BraTS 2023 lesion-wise Dice and HD95 of every region.
    """

    dataset: str
    labels: frozenset[int]
    columns: tuple[str, ...]
    score: Callable[..., CaseScores]
    regions: dict[str, tuple[int, ...]] = field(default_factory=dict)
    region_keys: dict[str, str] = field(default_factory=dict)
    key_names: dict[str, str] = field(default_factory=dict)
    mean_columns: bool = False
    uses_convention: bool = True
    nsd_tolerance_mm: dict[str, float] = field(default_factory=dict)
    lesion_wise: bool = False


def nnunet_key(labels, region_based: bool) -> str:
    """nnU-Net v2's summary key: ``"2"`` for a label, ``"(1, 2)"`` / ``"(3,)"`` (str of a tuple) for a region."""
    return str(tuple(labels)) if region_based else str(labels[0])


def score_overlap(task: EvaluationTask, case: str, prediction: np.ndarray, truth: np.ndarray, spacing, convention):
    """Dice, HD95 and NSD of every region of ``task`` (and their means), the BraTS 2023 lesion-wise Dice and
    HD95 where the task has them, plus nnU-Net-style counts per region."""
    scores = CaseScores(case, {})
    per_metric: dict[str, dict[str, float]] = {"dice": {}, "hd95": {}, "nsd": {}}
    for suffix, labels in task.regions.items():
        predicted, reference = np.isin(prediction, labels), np.isin(truth, labels)
        result = region_score(predicted, reference, spacing, convention, task.nsd_tolerance_mm[suffix])
        for metric, value in (("dice", result.dice), ("hd95", result.hd95), ("nsd", result.nsd)):
            per_metric[metric][suffix] = value
            column = f"{metric}_{suffix}" if suffix else metric
            scores.values[column] = value
            scores.prediction_empty[column] = result.prediction_empty
            scores.ground_truth_empty[column] = result.ground_truth_empty
        counts = overlap_counts(predicted, reference, result.dice, result.hd95)
        scores.label_metrics[task.region_keys[suffix]] = {**counts, "NSD": result.nsd}
        if task.lesion_wise:
            lesions = lesion_wise_score(predicted, reference, spacing)
            for metric, value in (("lesion_dice", lesions.dice), ("lesion_hd95", lesions.hd95)):
                column = f"{metric}_{suffix}"
                scores.values[column] = value
                scores.prediction_empty[column] = result.prediction_empty
                scores.ground_truth_empty[column] = result.ground_truth_empty
    if task.mean_columns:
        for metric, values in per_metric.items():
            column = f"{metric}_{MEAN_SUFFIX}"
            scores.values[column] = float(np.mean(list(values.values())))
            scores.prediction_empty[column] = any(scores.prediction_empty[f"dice_{s}"] for s in task.regions)
            scores.ground_truth_empty[column] = any(scores.ground_truth_empty[f"dice_{s}"] for s in task.regions)
    return scores


def overlap_counts(predicted: np.ndarray, reference: np.ndarray, dice: float, hd95: float) -> dict[str, float]:
    """nnU-Net v2's per-region metrics (Dice, IoU, TP, FP, FN, TN, n_pred, n_ref) plus HD95.

    Dice and HD95 are ours (the configured empty-mask convention); IoU follows from the counts, or, when
    both masks are empty, from our Dice (IoU = Dice / (2 - Dice)), where nnU-Net writes NaN for both.
    """
    tp = int(np.count_nonzero(predicted & reference))
    fp = int(np.count_nonzero(predicted & ~reference))
    fn = int(np.count_nonzero(~predicted & reference))
    tn = int(predicted.size) - tp - fp - fn
    iou = tp / (tp + fp + fn) if tp + fp + fn else dice / (2.0 - dice)
    return {
        "Dice": dice,
        "IoU": iou,
        "HD95": hd95,
        "TP": tp,
        "FP": fp,
        "FN": fn,
        "TN": tn,
        "n_pred": tp + fp,
        "n_ref": tp + fn,
    }


def score_airway(task: EvaluationTask, case: str, prediction: np.ndarray, truth: np.ndarray, spacing, convention):
    """AIIB IoU, DLR, DBR, precision and leakage (voxel counts; spacing and convention do not apply) and the NSD
    of label 1 (0 for an empty prediction)."""
    if not truth.any():
        raise InputError(f"case {case}: the ground truth has no airway voxels; AIIB metrics are undefined")
    result = airway_score(prediction > 0, truth > 0)
    values = {c: float(getattr(result, c)) for c in AIIB_COLUMNS}
    empty = not prediction.any()
    (tolerance,) = task.nsd_tolerance_mm.values()
    values[NSD] = 0.0 if empty else surface_dice(surfel_distances(prediction > 0, truth > 0, spacing), tolerance)
    (key,) = task.region_keys.values()
    label_metrics = {
        key: {
            "Dice": 2 * result.iou / (1 + result.iou),
            "IoU": result.iou,
            "DLR": result.dlr,
            "DBR": result.dbr,
            "Precision": result.precision,
            "Leakage": result.leakage,
            "NSD": values[NSD],
        }
    }
    return CaseScores(case, values, dict.fromkeys(values, empty), dict.fromkeys(values, False), label_metrics)


def extra_columns(definition: DatasetDefinition) -> tuple[str, ...]:
    """The columns after the registry's: ``nsd_<region>`` (and ``nsd_mean``; ``nsd`` for a single bare region
    or AIIB), then for BraTS ``lesion_dice_<region>`` and ``lesion_hd95_<region>``."""
    if definition.evaluation == "airway":
        return (NSD,)
    suffixes = list(definition.scored_regions()) + ([MEAN_SUFFIX] if definition.mean_columns else [])
    columns = [f"{NSD}_{s}" if s else NSD for s in suffixes]
    if definition.layout == LESION_WISE_DATASET:
        columns += [f"{metric}_{s}" for metric in ("lesion_dice", "lesion_hd95") for s in definition.scored_regions()]
    return tuple(columns)


def nsd_tolerances(dataset: str, suffixes, tolerance=None) -> dict[str, float]:
    """NSD tolerance (mm) per region column suffix from ``None`` (1 mm), one number, or {suffix: mm} (regions
    not named get 1 mm). Unknown regions and non-positive values raise InputError."""
    if tolerance is None or isinstance(tolerance, int | float):
        tolerance = DEFAULT_NSD_TOLERANCE_MM if tolerance is None else tolerance
        tolerance = dict.fromkeys(suffixes, tolerance)
    elif isinstance(tolerance, dict):
        unknown = sorted(set(tolerance) - set(suffixes))
        if unknown:
            named = [s for s in suffixes if s]
            expected = f"one of {named}" if named else "a single number (the dataset has one region)"
            raise InputError(
                f"evaluate {dataset}: nsd_tolerance_mm names unknown regions {unknown}; expected {expected}"
            )
        tolerance = {s: tolerance.get(s, DEFAULT_NSD_TOLERANCE_MM) for s in suffixes}
    else:
        raise InputError(
            f"evaluate {dataset}: nsd_tolerance_mm must be a number or {{region: number}}, got {tolerance!r}"
        )
    for suffix, value in tolerance.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise InputError(
                f"evaluate {dataset}: nsd_tolerance_mm of region {suffix or NSD!r} must be > 0, got {value!r}"
            )
    return {s: float(v) for s, v in tolerance.items()}


def task_for(definition: DatasetDefinition, nsd_tolerance=None) -> EvaluationTask:
    """The evaluation task of a dataset definition whose labels are known (``nsd_tolerance``: see
    :func:`nsd_tolerances`)."""
    info = definition.require_info()
    region_keys = {name: nnunet_key(labels, info.region_based) for name, labels in info.regions.items()}
    common = {
        "dataset": definition.name,
        "labels": frozenset(info.label_names),
        "columns": definition.metric_columns() + extra_columns(definition),
        "key_names": {key: name for name, key in region_keys.items()},
    }
    if definition.evaluation == "airway":
        tolerance = nsd_tolerances(definition.name, [""], nsd_tolerance)
        return EvaluationTask(
            **common, score=score_airway, region_keys=region_keys, uses_convention=False, nsd_tolerance_mm=tolerance
        )
    regions = definition.scored_regions()
    keys = [region_keys[name] for name in info.regions]
    return EvaluationTask(
        **common,
        score=score_overlap,
        regions=regions,
        region_keys=dict(zip(regions, keys, strict=True)),
        mean_columns=definition.mean_columns,
        nsd_tolerance_mm=nsd_tolerances(definition.name, list(regions), nsd_tolerance),
        lesion_wise=definition.layout == LESION_WISE_DATASET,
    )


def get_task(
    dataset: str | DatasetDefinition,
    root: str | Path | None = None,
    regions: dict | None = None,
    name: str | None = None,
    nsd_tolerance=None,
) -> EvaluationTask:
    """The evaluation task of a dataset layout; an nnU-Net dataset's labels come from ``<root>/dataset.json``.

    Args:
        dataset: a registered layout name (``brats2023``, ``aiib2023``, ``crc500`` or ``nnunet``), or a
            complete definition (a dataset file's, :mod:`segmamba.data.dataset_file`).
        root: the raw nnU-Net dataset folder (``nnunet`` only).
        regions: {name: [labels]} evaluated instead of the single labels (``nnunet`` only).
        name: the dataset's own name (the task's ``dataset``); default the layout's name.
        nsd_tolerance: NSD tolerance in mm, one number or {region column suffix: mm}; default 1 mm.
    """
    if isinstance(dataset, DatasetDefinition):  # from a dataset file: labels and regions known
        return task_for(dataset, nsd_tolerance)
    definition = dataclasses.replace(get_definition(dataset), name=name or dataset)
    if dataset != NNUNET:
        if regions:
            raise InputError(f"evaluate: regions apply to nnunet datasets only ({dataset} has fixed regions)")
        return task_for(definition, nsd_tolerance)
    if root is None:
        raise InputError(
            "evaluate --dataset nnunet needs --root: the dataset folder whose dataset.json names the labels"
        )
    _, info = read_nnunet_dataset_json(root, regions, definition.name)
    return task_for(dataclasses.replace(definition, info=info), nsd_tolerance)
