"""Summaries of per-case metric values (mean, std, n, undefined and empty counts) and the paired Wilcoxon test.

Undefined values (NaN) are never dropped silently: ``n`` counts the defined values the mean is taken
over and ``n_undefined`` counts the rest. ``std`` is the population standard deviation (ddof = 0, as
numpy's default that SegMamba prints).

:func:`nnunet_summary` gives the same results in the shape of nnU-Net v2's ``summary.json``
(``nnunetv2.evaluation.evaluate_predictions``), so that tooling written for nnU-Net reads them:

- ``metric_per_case``: one entry per case, ``{"metrics": {key: {metric: value}}, "prediction_file": ...,
  "reference_file": ...}``;
- ``mean``: ``{key: {metric: mean over cases}}``, NaN values skipped (``nanmean``);
- ``foreground_mean``: ``{metric: mean over the keys of mean}``.

A key is a label value as text (``"1"``) for datasets evaluated per label, and the text of the label tuple
(``"(1, 2, 3)"``, ``"(3,)"``) for datasets evaluated on regions (BraTS, nnU-Net datasets with configured
regions), as nnU-Net writes them; ``key_names`` (ours) maps each key to its label or region name.
Metrics per key: nnU-Net's ``Dice``, ``IoU``, ``TP``, ``FP``, ``FN``, ``TN``, ``n_pred``, ``n_ref``
plus ``HD95`` (mm) and ``NSD``; Dice, HD95 and NSD are the CSV's values (configured empty-mask convention).
AIIB2023 has ``IoU``, ``DLR``, ``DBR``, ``Precision``, ``Leakage``, ``NSD`` (the CSV's metrics) and ``Dice`` =
2 IoU / (1 + IoU) of the same largest component, no voxel counts. Undefined values are written as NaN,
as nnU-Net does.

Provenance: :func:`prediction_fingerprint` reads the data fingerprint of a predictions folder (its
``provenance.json``, :mod:`segmamba.data.fingerprint`) and refuses predictions made for another split; the
summary records it as ``data_fingerprint``, which the report compares across the models of a table.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from segmamba.errors import InputError

if TYPE_CHECKING:  # pandas and scipy.stats (about 1 s of start-up) are imported by the report's functions only
    import pandas as pd


def summarise_values(values) -> dict:
    """Mean, std, n (defined values) and n_undefined (NaN values) of a sequence of numbers."""
    array = np.asarray(list(values), dtype=float)
    defined = array[np.isfinite(array)]
    return {
        "mean": float(defined.mean()) if defined.size else None,
        "std": float(defined.std()) if defined.size else None,
        "n": int(defined.size),
        "n_undefined": int(array.size - defined.size),
    }


def read_metrics_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``segmamba evaluate`` CSV (column ``case`` kept as text) into a DataFrame."""
    import pandas as pd

    return pd.read_csv(path, dtype={"case": str})


def summarise_metrics_csv(path: str | os.PathLike) -> dict[str, dict]:
    """Summarise every metric column of a ``segmamba evaluate`` CSV: {column: summarise_values(...)}."""
    frame = read_metrics_csv(path)
    return {column: summarise_values(frame[column]) for column in frame.columns if column != "case"}


def nnunet_summary(scores, key_names: dict[str, str]) -> dict:
    """nnU-Net v2 ``summary.json`` content (see the module docstring) of per-case ``CaseScores``.

    Args:
        scores: the cases' :class:`segmamba.evaluate.tasks.CaseScores`, with their ``label_metrics``.
        key_names: {nnU-Net key: label or region name}, written as ``key_names``.
    """
    per_case = [
        {"metrics": s.label_metrics, "prediction_file": s.prediction_file, "reference_file": s.reference_file}
        for s in scores
    ]
    means: dict[str, dict[str, float]] = {}
    for key in key_names:
        names = list(dict.fromkeys(name for s in scores for name in s.label_metrics.get(key, {})))
        means[key] = {name: _nanmean([s.label_metrics[key][name] for s in scores]) for name in names}
    metric_names = list(dict.fromkeys(name for values in means.values() for name in values))
    foreground = {name: float(np.mean([means[key][name] for key in means])) for name in metric_names}
    return {"metric_per_case": per_case, "mean": means, "foreground_mean": foreground, "key_names": dict(key_names)}


def _nanmean(values) -> float:
    """Mean of the defined values; NaN when there are none (as numpy's nanmean, without its warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(np.asarray(values, dtype=float)))


def paired_wilcoxon(values, reference_values) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired per-case values against the reference's.

    Pairs where either value is NaN are dropped. Returns NaN when the test is undefined: fewer than two
    pairs, or every difference zero.

    Args:
        values: per-case values of the method under test.
        reference_values: the reference method's values on the same cases, in the same order.
    """
    from scipy.stats import wilcoxon

    values = np.asarray(values, dtype=float)
    reference_values = np.asarray(reference_values, dtype=float)
    if values.shape != reference_values.shape:
        raise ValueError(f"paired test needs equally long inputs, got {values.shape} and {reference_values.shape}")
    keep = np.isfinite(values) & np.isfinite(reference_values)
    differences = values[keep] - reference_values[keep]
    if differences.size < 2 or not np.any(differences != 0):
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scipy warns about small samples; the p-value stands
        return float(wilcoxon(values[keep], reference_values[keep]).pvalue)


def prediction_fingerprint(prediction_dir: str | os.PathLike, split_path: str | os.PathLike | None = None):
    """The data fingerprint recorded beside the predictions (None when they record none and no split is given).

    Args:
        prediction_dir: a ``segmamba predict`` output folder.
        split_path: the split the evaluation is for; then predictions without a recorded fingerprint, or made
            with a model of another split, are refused.

    Raises:
        InputError: naming the predictions' provenance file, the split and what differs.
    """
    from segmamba.data.fingerprint import PROVENANCE_FILE, fingerprint_differences, read_split_fingerprint

    path = Path(prediction_dir) / PROVENANCE_FILE
    fingerprint = None
    if path.is_file():
        try:
            fingerprint = json.loads(path.read_text())["data_fingerprint"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{path}: cannot read the predictions' data fingerprint ({exc})") from exc
    if split_path is None:
        return fingerprint
    differences = fingerprint_differences(fingerprint, {"split": read_split_fingerprint(split_path)}, ("split",))
    if differences:
        raise InputError(
            f"predictions in {prediction_dir} were not made by a model of split {split_path} "
            f"({path}: {'; '.join(differences)}); predict them again with a model trained on this split"
        )
    return fingerprint
