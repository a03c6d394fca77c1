"""What ``segmamba evaluate`` scores for each dataset: allowed labels, CSV columns and the per-case metric.

Regions and label values come from the dataset definitions in :mod:`segmamba.data.datasets`
(brats2023 WT = {1,2,3}, TC = {1,3}, ET = {3}; crc500 tumour = {1}; aiib2023 airway = {1}).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from segmamba.data.datasets import AiibDataset, BratsDataset, CrcDataset
from segmamba.errors import InputError
from segmamba.evaluation.airway import airway_score
from segmamba.evaluation.overlap import region_score

DATASET_INFO = {"brats2023": BratsDataset.info, "aiib2023": AiibDataset.info, "crc500": CrcDataset.fixed_info}
BRATS_REGIONS = {name.lower(): tuple(labels) for name, labels in DATASET_INFO["brats2023"].regions.items()}


def dataset_labels(dataset: str) -> frozenset[int]:
    """The label values a dataset's label maps may hold (background included)."""
    return frozenset(DATASET_INFO[dataset].label_names)


@dataclass(frozen=True)
class CaseScores:
    """One case's metric values (column -> value) and, per column, whether a mask was empty."""

    case: str
    values: dict[str, float]
    prediction_empty: dict[str, bool] = field(default_factory=dict)
    ground_truth_empty: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationTask:
    """A dataset's evaluation: allowed label values, output columns and the per-case scorer."""

    dataset: str
    labels: frozenset[int]
    columns: tuple[str, ...]
    score: Callable[[str, np.ndarray, np.ndarray, tuple[float, ...], str], CaseScores]
    uses_convention: bool = True


def score_brats(case: str, prediction: np.ndarray, truth: np.ndarray, spacing, convention: str) -> CaseScores:
    """Dice and HD95 of the WT, TC and ET regions of a BraTS 2023 label map."""
    results = {
        region: region_score(np.isin(prediction, labels), np.isin(truth, labels), spacing, convention)
        for region, labels in BRATS_REGIONS.items()
    }
    scores = CaseScores(case, {})
    for metric in ("dice", "hd95"):
        for region, result in results.items():
            column = f"{metric}_{region}"
            scores.values[column] = getattr(result, metric)
            scores.prediction_empty[column] = result.prediction_empty
            scores.ground_truth_empty[column] = result.ground_truth_empty
    return scores


def score_single_label(case: str, prediction: np.ndarray, truth: np.ndarray, spacing, convention: str) -> CaseScores:
    """Dice and HD95 of the single foreground label (label > 0)."""
    result = region_score(prediction > 0, truth > 0, spacing, convention)
    columns = ("dice", "hd95")
    return CaseScores(
        case,
        {"dice": result.dice, "hd95": result.hd95},
        dict.fromkeys(columns, result.prediction_empty),
        dict.fromkeys(columns, result.ground_truth_empty),
    )


def score_airway(case: str, prediction: np.ndarray, truth: np.ndarray, spacing, convention: str) -> CaseScores:
    """AIIB IoU, DLR, DBR, precision and leakage (voxel counts; spacing and convention do not apply)."""
    if not truth.any():
        raise InputError(f"case {case}: the ground truth has no airway voxels; AIIB metrics are undefined")
    result = airway_score(prediction > 0, truth > 0)
    values = {c: float(getattr(result, c)) for c in AIIB_COLUMNS}
    empty = not prediction.any()
    return CaseScores(case, values, dict.fromkeys(AIIB_COLUMNS, empty), dict.fromkeys(AIIB_COLUMNS, False))


BRATS_TASK_COLUMNS = ("dice_wt", "dice_tc", "dice_et", "hd95_wt", "hd95_tc", "hd95_et")
AIIB_COLUMNS = ("iou", "dlr", "dbr", "precision", "leakage")

TASKS = {
    "brats2023": EvaluationTask("brats2023", dataset_labels("brats2023"), BRATS_TASK_COLUMNS, score_brats),
    "aiib2023": EvaluationTask(
        "aiib2023", dataset_labels("aiib2023"), AIIB_COLUMNS, score_airway, uses_convention=False
    ),
    "crc500": EvaluationTask("crc500", dataset_labels("crc500"), ("dice", "hd95"), score_single_label),
}


def get_task(dataset: str) -> EvaluationTask:
    """The evaluation task of a dataset name (``brats2023``, ``aiib2023`` or ``crc500``)."""
    try:
        return TASKS[dataset]
    except KeyError:
        raise InputError(f"evaluate: unknown dataset {dataset!r}; expected one of {sorted(TASKS)}") from None
