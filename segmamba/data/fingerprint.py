"""The data fingerprint: which split and which preprocessing a model was trained on.

Every checkpoint, ``train_summary.json``, prediction folder (``provenance.json``) and metrics summary records
one, so that a model is only ever scored on the data it was trained for (see ``docs/provenance.md``)::

    {"split": {"seed": 42, "case_list_hash": "...", "subsets_hash": "..."}, "preprocessing": "..."}

- ``split.seed`` and ``split.case_list_hash``: as recorded in ``split.json`` (:mod:`segmamba.data.split`);
- ``split.subsets_hash``: SHA-256 of the train, val and test lists in their order (a hand-edited split with
  the same cases and seed but other subsets differs here);
- ``preprocessing``: SHA-256 of the preprocessed folder's ``dataset.json`` in canonical JSON (sorted keys),
  which holds the target spacing, the normalisation (CT percentiles, mean and std of the training cases),
  channels, labels, regions, the case ids and the split's case-list hash.

Pure functions on plain data; no torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from segmamba.data.preprocessed_reader import load_dataset_json
from segmamba.data.split import SPLIT_KEYS, load_split

#: The file that ``segmamba predict`` writes beside its predictions: checkpoint path and SHA-256, the
#: checkpoint's data fingerprint, the predicted subset.
PROVENANCE_FILE = "provenance.json"


def canonical_hash(obj: Any) -> str:
    """SHA-256 of ``obj`` as canonical JSON (sorted keys, no whitespace)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_fingerprint(split: dict) -> dict[str, Any]:
    """The fingerprint of a split (a ``split.json`` dict): its seed, case-list hash and subsets hash."""
    return {
        "seed": split["seed"],
        "case_list_hash": split["case_list_hash"],
        "subsets_hash": canonical_hash({key: list(split[key]) for key in SPLIT_KEYS}),
    }


def data_fingerprint(split: dict, dataset_json: dict) -> dict[str, Any]:
    """The fingerprint of a split and the preprocessed ``dataset.json`` made from it."""
    return {"split": split_fingerprint(split), "preprocessing": canonical_hash(dataset_json)}


def read_split_fingerprint(split_path: str | os.PathLike) -> dict[str, Any]:
    """The fingerprint of the split file ``split_path``."""
    return split_fingerprint(load_split(split_path))


def read_data_fingerprint(split_path: str | os.PathLike, preprocessed_dir: str | os.PathLike) -> dict[str, Any]:
    """The fingerprint of a split file and a preprocessed folder."""
    return data_fingerprint(load_split(split_path), load_dataset_json(preprocessed_dir))


def fingerprint_differences(saved: dict | None, current: dict, parts: tuple[str, ...] = ("split", "preprocessing")):
    """Human-readable differences between a recorded fingerprint and the current one (empty: the same data).

    Args:
        saved: the recorded fingerprint; None (nothing recorded, an older file) is one difference.
        current: the fingerprint of the data at hand.
        parts: the parts to compare (``("preprocessing",)`` when no split is involved).
    """
    if not saved:
        return ["no data fingerprint recorded (written by an older version)"]
    differences = []
    if "split" in parts and saved.get("split") != current["split"]:
        old, new = saved.get("split") or {}, current["split"]
        if old.get("seed") != new["seed"]:
            differences.append(f"split seed {old.get('seed')!r} -> {new['seed']!r}")
        if old.get("case_list_hash") != new["case_list_hash"]:
            differences.append("split case list changed")
        if not differences:
            differences.append("split train/val/test lists changed")
    if "preprocessing" in parts and saved.get("preprocessing") != current["preprocessing"]:
        differences.append("preprocessing (dataset.json: spacing, normalisation, labels or regions) changed")
    return differences
