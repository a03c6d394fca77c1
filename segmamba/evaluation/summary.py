"""Summaries of per-case metric values: mean, std, n, and how many cases were undefined or empty.

Undefined values (NaN) are never dropped silently: ``n`` counts the defined values the mean is taken
over and ``n_undefined`` counts the rest. ``std`` is the population standard deviation (ddof = 0, as
numpy's default that SegMamba prints).
"""

from __future__ import annotations

import os

import numpy as np
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
    return pd.read_csv(path, dtype={"case": str})


def summarise_metrics_csv(path: str | os.PathLike) -> dict[str, dict]:
    """Summarise every metric column of a ``segmamba evaluate`` CSV: {column: summarise_values(...)}."""
    frame = read_metrics_csv(path)
    return {column: summarise_values(frame[column]) for column in frame.columns if column != "case"}
