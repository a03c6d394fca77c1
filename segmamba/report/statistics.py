"""Statistics of the accuracy tables: bootstrap CIs of the mean, paired Wilcoxon tests, Holm adjustment.

Every function takes per-case values in one tidy form, a frame with the columns ``case``, ``seed``, ``fold``
and ``value`` (one row per case and seed; :func:`case_frame` builds it from a metrics frame). One training
(one seed, one split) gives one row per test case; several seeds give several rows per case, and
cross-validation folds give cases whose union is the whole data set, each labelled with its fold. The
statistics are the same in all three cases:

- a cell (one method, one metric): the mean, sample std (ddof=1) and n over the cases of each case's mean over
  seeds, a bootstrap CI of that mean (``scipy.stats.bootstrap``: cases resampled, ``BootstrapSettings``),
  the number of seeds, the between-seed std (std over seeds of each seed's mean over cases) and the number of
  folds;
- a comparison (a method against the reference): on the cases both have, the mean paired difference (method −
  reference) with its bootstrap CI and the two-sided paired Wilcoxon signed-rank p-value
  (``scipy.stats.wilcoxon``), both on each case's mean over seeds;
- a family of comparisons: the Holm-adjusted p-values (``statsmodels.stats.multitest.multipletests``).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import bootstrap
from statsmodels.stats.multitest import multipletests

from segmamba.errors import InputError
from segmamba.evaluate.summary import paired_wilcoxon


@dataclass(frozen=True)
class BootstrapSettings:
    """How CIs (and rank intervals) are bootstrapped: cases resampled ``resamples`` times with a generator
    seeded with ``seed`` (a rerun gives the same digits), ``method`` as ``scipy.stats.bootstrap`` names it,
    ``batch`` resamples at a time (bounds the memory), two-sided ``confidence``."""

    resamples: int = 10_000
    seed: int = 0
    method: str = "BCa"
    confidence: float = 0.95
    batch: int = 2_500


@dataclass(frozen=True)
class StatisticsSettings:
    """The reference method every other method is compared with, and the bootstrap settings."""

    reference: str = "segmamba"
    bootstrap: BootstrapSettings = BootstrapSettings()

    @classmethod
    def from_inputs(cls, statistics: dict | None) -> StatisticsSettings:
        """The settings of a report rule's ``statistics`` input (keys ``reference``, ``resamples``, ``seed``;
        absent keys keep the defaults)."""
        statistics = statistics or {}
        unknown = set(statistics) - {"reference", "resamples", "seed"}
        if unknown:
            raise InputError(
                f"statistics: unknown key(s) {', '.join(sorted(unknown))}; known: reference, resamples, seed"
            )
        defaults = BootstrapSettings()
        bootstrap_settings = BootstrapSettings(
            resamples=int(statistics.get("resamples", defaults.resamples)),
            seed=int(statistics.get("seed", defaults.seed)),
        )
        return cls(reference=str(statistics.get("reference", cls.reference)), bootstrap=bootstrap_settings)


def case_frame(frame: pd.DataFrame, values: pd.Series) -> pd.DataFrame:
    """The per-case values frame of ``values`` (indexed like ``frame``, by case), NaN values dropped.

    ``frame`` is a metrics frame indexed by case id; its optional ``seed`` and ``fold`` columns say which
    training and which test fold each row comes from (absent: seed 0, one fold).
    """
    seeds = frame["seed"] if "seed" in frame.columns else pd.Series(0, index=frame.index)
    folds = frame["fold"].astype(str) if "fold" in frame.columns else pd.Series("", index=frame.index)
    result = pd.DataFrame(
        {"case": frame.index.astype(str), "seed": seeds.to_numpy(), "fold": folds.to_numpy(), "value": values}
    )
    return result.dropna(subset=["value"]).reset_index(drop=True)


def seed_means(values: pd.DataFrame) -> pd.Series:
    """Each case's mean over its seeds, indexed by case (in first-seen order)."""
    return values.groupby("case", sort=False)["value"].mean()


def bootstrap_ci(sample: np.ndarray, settings: BootstrapSettings) -> tuple[float, float]:
    """Bootstrap CI of the mean of ``sample`` (``scipy.stats.bootstrap``, vectorised, seeded).

    Fewer than two values give (NaN, NaN); values that are all equal give (value, value), where every resample
    has the same mean (scipy's BCa is undefined there).
    """
    sample = np.asarray(sample, dtype=float)
    if sample.size < 2:
        return math.nan, math.nan
    if np.all(sample == sample[0]):
        return float(sample[0]), float(sample[0])
    result = bootstrap(
        (sample,),
        np.mean,
        n_resamples=settings.resamples,
        batch=settings.batch,
        vectorized=True,
        confidence_level=settings.confidence,
        method=settings.method,
        rng=np.random.default_rng(settings.seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def cell_statistics(values: pd.DataFrame, settings: BootstrapSettings) -> dict:
    """``n, mean, std, ci_low, ci_high, n_seeds, seed_std, folds`` of one method's values of one metric."""
    per_case = seed_means(values)
    n_seeds = int(values["seed"].nunique())
    seed_std = values.groupby("seed")["value"].mean().std(ddof=1) if n_seeds > 1 else math.nan
    low, high = bootstrap_ci(per_case.to_numpy(), settings)
    return {
        "n": len(per_case),
        "mean": float(per_case.mean()) if len(per_case) else math.nan,
        "std": float(per_case.std(ddof=1)) if len(per_case) > 1 else math.nan,
        "ci_low": low,
        "ci_high": high,
        "n_seeds": n_seeds,
        "seed_std": float(seed_std),
        "folds": int(values["fold"].nunique()),
    }


def paired_comparison(values: pd.DataFrame, reference: pd.DataFrame, settings: BootstrapSettings) -> dict:
    """``diff_ref, diff_ci_low, diff_ci_high, p_value`` of a method against the reference on their common cases.

    Both sides are each case's mean over seeds; the difference is method − reference. The p-value is
    ``segmamba.evaluate.summary.paired_wilcoxon``'s (NaN when fewer than two pairs or every difference is zero).
    """
    ours, theirs = seed_means(values), seed_means(reference)
    common = ours.index.intersection(theirs.index, sort=False)
    if len(common) == 0:
        return {"diff_ref": math.nan, "diff_ci_low": math.nan, "diff_ci_high": math.nan, "p_value": math.nan}
    differences = ours.loc[common].to_numpy() - theirs.loc[common].to_numpy()
    low, high = bootstrap_ci(differences, settings)
    return {
        "diff_ref": float(differences.mean()),
        "diff_ci_low": low,
        "diff_ci_high": high,
        "p_value": float(paired_wilcoxon(ours.loc[common].to_numpy(), theirs.loc[common].to_numpy())),
    }


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values of one family (``multipletests(method="holm")``); NaN entries stay NaN and do not
    count as comparisons."""
    p_values = np.asarray(p_values, dtype=float)
    adjusted = np.full(p_values.shape, np.nan)
    tested = np.isfinite(p_values)
    if tested.any():
        gc.freeze()  # statsmodels' Holm branch calls gc.collect(); frozen objects are not traversed (0.2 s -> 1 ms)
        try:
            adjusted[tested] = multipletests(p_values[tested], method="holm")[1]
        finally:
            gc.unfreeze()
    return adjusted


def add_holm(tidy: pd.DataFrame, family: Sequence[str] = ("table", "dataset", "metric")) -> pd.DataFrame:
    """``tidy`` with ``p_holm``: its ``p_value`` Holm-adjusted within each family (by default one column of one
    table: one metric on one dataset)."""
    tidy = tidy.copy()
    tidy["p_holm"] = np.nan
    for _, rows in tidy.groupby(list(family), sort=False):
        tidy.loc[rows.index, "p_holm"] = holm(rows["p_value"].to_numpy())
    return tidy
