"""K-fold cross-validation splits: one train/val/test split file per fold, in the shape of ``split.json``.

Case ids are sorted and shuffled with ``random.Random(seed)`` exactly as the holdout split does
(``segmamba.data.split``), then cut into K consecutive folds whose sizes differ by at most one (the first
N mod K folds get the extra case, as ``numpy.array_split`` cuts). Fold k's split has

- test: fold k, so every case is a test case of exactly one fold;
- val: the floor(N/10) cases that follow fold k in the shuffled order (wrapping around to the start), so the
  validation set is as large as the holdout's and differs between folds;
- train: every other case.

With K = 5 every fold keeps the paper's 70/10/20 proportions. Validation only monitors the training (the
predictions come from the final checkpoint), so the choice of validation cases does not select a model.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from segmamba.data.split import case_list_hash, load_split, verify_split
from segmamba.errors import InputError
from segmamba.io_utils import write_json_atomic


def fold_test_sets(case_ids: list[str], folds: int, seed: int) -> list[list[str]]:
    """The K test sets (disjoint, together every case) of a seeded shuffle of the sorted case ids."""
    ordered = sorted(case_ids)
    if len(set(ordered)) != len(ordered):
        raise InputError("duplicate case ids in the case list")
    if not 2 <= folds <= len(ordered):
        raise InputError(
            f"cross-validation: folds must be between 2 and the number of cases ({len(ordered)}), got {folds}"
        )
    shuffled = list(ordered)
    random.Random(seed).shuffle(shuffled)
    return [list(chunk) for chunk in np.array_split(np.array(shuffled, dtype=object), folds)]


def make_cv_folds(case_ids: list[str], folds: int, seed: int = 42) -> list[dict]:
    """Every fold's split dict (keys of ``split.json`` plus ``scheme``, ``folds`` and ``fold``); see the module doc."""
    test_sets = fold_test_sets(case_ids, folds, seed)
    shuffled = [case for test in test_sets for case in test]
    n = len(shuffled)
    n_val = n // 10
    splits = []
    start = 0
    for fold, test in enumerate(test_sets):
        end = start + len(test)
        after = shuffled[end:] + shuffled[:start]  # the other folds' cases, starting right after fold k
        splits.append(
            {
                "scheme": "cv",
                "folds": folds,
                "fold": fold,
                "seed": seed,
                "case_list_hash": case_list_hash(shuffled),
                "num_cases": n,
                "train": after[n_val:],
                "val": after[:n_val],
                "test": test,
            }
        )
        start = end
    return splits


def write_fold_split(path: str | Path, case_ids: list[str], folds: int, fold: int, seed: int = 42) -> dict:
    """Write fold ``fold`` of the ``folds``-fold split atomically and return it.

    An existing file made for another case list, seed, fold count or fold is an error (delete it to re-split
    on purpose); rewriting with the same arguments produces a byte-identical file.
    """
    path = Path(path)
    if not 0 <= fold < folds:
        raise InputError(f"cross-validation: fold must be between 0 and {folds - 1}, got {fold}")
    split = make_cv_folds(case_ids, folds, seed)[fold]
    if path.exists():
        existing = load_split(path)
        verify_split(existing, case_ids, source=f"existing split file {path}")
        made = {key: existing.get(key) for key in ("scheme", "folds", "fold", "seed")}
        wanted = {key: split[key] for key in made}
        if made != wanted:
            raise InputError(
                f"existing split file {path}: made with {made}, not {wanted}; delete it to re-split on purpose"
            )
    write_json_atomic(path, split)
    return split
