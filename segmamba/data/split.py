"""The 70/10/20 train/validation/test split, recorded with its seed and a hash of the case list.

Case ids are sorted, then shuffled with Python's ``random.Random(seed)`` (as the published code does with
seed 42, but from a sorted list so the split is reproducible across machines). train = floor(0.7 N),
val = floor(0.1 N), test = the rest, so no case is lost (N = 1251 gives 875/125/251).

Every split written is also appended to ``<stem>.history.jsonl`` beside the split file (time, seed, number of
cases, case-list hash). Snakemake deletes ``split.json`` before it reruns the split rule, so the guard against a
silent re-split cannot rely on that file alone: a split that differs from the last recorded one is reported
(a warning naming the old and new seed and case count). Models trained on the old split are then retrained,
because their data fingerprint (:mod:`segmamba.data.fingerprint`) no longer matches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from pathlib import Path

from segmamba.errors import InputError
from segmamba.io_utils import write_json_atomic, write_text_atomic

logger = logging.getLogger("segmamba.data")

SPLIT_KEYS = ("train", "val", "test")


def case_list_hash(case_ids: list[str]) -> str:
    """SHA-256 of the sorted case ids joined by newlines."""
    return hashlib.sha256("\n".join(sorted(case_ids)).encode()).hexdigest()


def make_split(case_ids: list[str], seed: int = 42) -> dict:
    """Split ``case_ids`` 70/10/20 (floors for train and val, the rest to test) with a seeded shuffle."""
    ordered = sorted(case_ids)
    if len(set(ordered)) != len(ordered):
        raise InputError("duplicate case ids in the case list")
    shuffled = list(ordered)
    random.Random(seed).shuffle(shuffled)
    n = len(shuffled)
    n_train, n_val = n * 7 // 10, n // 10
    return {
        "seed": seed,
        "case_list_hash": case_list_hash(ordered),
        "num_cases": n,
        "fractions": {"train": 0.7, "val": 0.1, "test": 0.2},
        "train": shuffled[:n_train],
        "val": shuffled[n_train : n_train + n_val],
        "test": shuffled[n_train + n_val :],
    }


def load_split(path: str | Path) -> dict:
    """Read and validate a split JSON (keys train, val, test, seed, case_list_hash)."""
    path = Path(path)
    try:
        split = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InputError(f"split file {path}: missing (create it with `segmamba split`)") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"split file {path}: not valid JSON ({exc})") from exc
    missing = [k for k in (*SPLIT_KEYS, "seed", "case_list_hash") if k not in split]
    if missing:
        raise InputError(f"split file {path}: missing keys {missing}")
    ids = [c for key in SPLIT_KEYS for c in split[key]]
    if len(set(ids)) != len(ids):
        raise InputError(f"split file {path}: a case appears in more than one subset")
    if case_list_hash(ids) != split["case_list_hash"]:
        raise InputError(
            f"split file {path}: case_list_hash does not match its own train/val/test lists "
            "(the file was edited by hand?)"
        )
    return split


def verify_split(split: dict, case_ids: list[str], source: str = "split") -> None:
    """Raise InputError when ``split`` was made for a different case list than ``case_ids``."""
    if split["case_list_hash"] == case_list_hash(case_ids):
        return
    in_split = {c for key in SPLIT_KEYS for c in split[key]}
    current = set(case_ids)
    added, removed = sorted(current - in_split), sorted(in_split - current)
    raise InputError(
        f"{source}: made for a different case list (now {len(current)} cases, split has {len(in_split)}; "
        f"new: {_preview(added)}; gone: {_preview(removed)}). Delete the split file and rerun "
        "`segmamba split` to re-split on purpose"
    )


def _preview(ids: list[str], limit: int = 5) -> str:
    if not ids:
        return "none"
    return ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def write_split(path: str | Path, case_ids: list[str], seed: int = 42) -> dict:
    """Make the split and write it atomically; an existing file for another case list or seed is an error.

    Rewriting with the same cases and seed produces a byte-identical file. Without an existing file (e.g. deleted
    by Snakemake before a rerun) a split other than the last one in the history is reported
    (:func:`report_resplit`); every new split is recorded there (:func:`record_split`).
    """
    path = Path(path)
    split = make_split(case_ids, seed)
    if path.exists():
        existing = load_split(path)
        verify_split(existing, case_ids, source=f"existing split file {path}")
        if existing["seed"] != seed:
            raise InputError(
                f"existing split file {path}: made with seed {existing['seed']}, not {seed}; "
                "delete it to re-split on purpose"
            )
    else:
        report_resplit(path, split)
    write_json_atomic(path, split)
    record_split(path, split)
    return split


def history_path(path: str | Path) -> Path:
    """The split history beside a split file: ``split.json`` -> ``split.history.jsonl``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.history.jsonl")


def _history(path: str | Path) -> list[dict]:
    history = history_path(path)
    if not history.is_file():
        return []
    try:
        return [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise InputError(f"split history {history}: not JSON lines ({exc})") from exc


def _identity(split: dict) -> tuple:
    return split["seed"], split["case_list_hash"]


def report_resplit(path: str | Path, split: dict) -> None:
    """Warn when ``split`` differs from the last split recorded beside ``path`` (whose file is gone)."""
    history = _history(path)
    if history and _identity(history[-1]) != _identity(split):
        last = history[-1]
        logger.warning(
            "re-splitting %s: the last split (recorded in %s) had seed %s and %s cases, this one seed %s and %s "
            "cases; models trained on the last split will be retrained (their data fingerprint differs)",
            path,
            history_path(path),
            last["seed"],
            last["num_cases"],
            split["seed"],
            split["num_cases"],
        )


def record_split(path: str | Path, split: dict) -> None:
    """Append ``split`` (time, seed, number of cases, case-list hash) to its history unless it is the last one."""
    history = _history(path)
    if history and _identity(history[-1]) == _identity(split):
        return
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **{k: split[k] for k in ("seed", "num_cases", "case_list_hash")},
    }
    lines = [json.dumps(item, sort_keys=True) for item in [*history, entry]]
    write_text_atomic(history_path(path), "\n".join(lines) + "\n")
