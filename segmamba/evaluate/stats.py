"""Paired significance test of a method against the reference method (SegMamba) on one metric."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import wilcoxon


def paired_wilcoxon(values, reference_values) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired per-case values against the reference's.

    Pairs where either value is NaN are dropped. Returns NaN when the test is undefined: fewer than two
    pairs, or every difference zero.

    Args:
        values: per-case values of the method under test.
        reference_values: the reference method's values on the same cases, in the same order.
    """
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
