"""Validation of an nnU-Net v2 raw dataset's ``dataset.json`` and of its training files against it.

Every problem is one line naming the file and the key (``channel_names``, ``labels``, ``numTraining``,
``file_ending``), and all of them are reported at once. Standard library only: the workflow runs these
checks while it parses the Snakefile, so that a bad dataset stops the dry run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from segmamba.data.registry import NIFTI_ENDINGS
from segmamba.data.split import make_split
from segmamba.errors import InputError

#: Characters a label name may not hold: they break the Markdown tables (``|``), matplotlib legends
#: (``$``, ``\``) and renderers that pass raw HTML (``<``, ``>``), or a one-line-per-problem report.
FORBIDDEN_IN_NAMES = re.compile(r"[<>`\x00-\x1f\x7f]")

#: The fewest training cases a run can train on (training refuses an empty train list).
MIN_TRAIN_CASES = 1


def _pairs_without_duplicates(where: str):
    def hook(pairs: list[tuple[str, object]]) -> dict:
        keys = [key for key, _ in pairs]
        duplicated = sorted({key for key in keys if keys.count(key) > 1})
        if duplicated:
            raise InputError(f"{where}: duplicate key(s) {duplicated} in one object (JSON keeps only the last)")
        return dict(pairs)

    return hook


def load_dataset_json(root: str | Path) -> tuple[dict, str]:
    """Read and validate ``<root>/dataset.json``: (its contents, the "dataset ...: file ..." prefix of messages).

    Raises:
        InputError: one line per problem, each naming the file and the key.
    """
    path = Path(root) / "dataset.json"
    where = f"dataset {root}: file {path}"
    if not path.is_file():
        raise InputError(f"{where}: missing (nnU-Net v2 raw datasets need dataset.json)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_pairs_without_duplicates(where))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{where}: not a valid nnU-Net v2 dataset.json ({type(exc).__name__}: {exc})") from exc
    if not isinstance(meta, dict):
        raise InputError(f"{where}: not a valid nnU-Net v2 dataset.json (a JSON object is needed, got {_kind(meta)})")
    problems = _channel_problems(meta, where) + _label_problems(meta, where) + _scalar_problems(meta, where)
    if problems:
        raise InputError("\n".join(problems))
    return meta, where


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _channel_problems(meta: dict, where: str) -> list[str]:
    channels = meta.get("channel_names")
    key = f"{where}: key channel_names"
    if channels is None:
        return [f'{key}: missing (e.g. {{"0": "CT"}})']
    if not isinstance(channels, dict) or not channels:
        return [f'{key}: must be a non-empty object {{"0": name, ...}}, got {_kind(channels)}']
    problems = []
    if sorted(channels) != [str(i) for i in range(len(channels))]:
        problems.append(f"{key}: keys must be the channel indices 0..{len(channels) - 1}, got {sorted(channels)}")
    for index, name in channels.items():
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{key}: channel {index!r} must be named by a non-empty string, got {name!r}")
    return problems


def _label_problems(meta: dict, where: str) -> list[str]:
    labels = meta.get("labels")
    key = f"{where}: key labels"
    if labels is None:
        return [f'{key}: missing (e.g. {{"background": 0, "tumour": 1}})']
    if not isinstance(labels, dict):
        return [f"{key}: must be an object {{name: value}}, got {_kind(labels)}"]
    if any(isinstance(v, list | tuple) for v in labels.values()):
        return [f"{key}: region-based labels are not supported (give regions in the config instead)"]
    problems = []
    for name, value in labels.items():
        if not isinstance(value, int):
            problems.append(f"{key}: label {name!r} must have an integer value, got {value!r}")
        bad = FORBIDDEN_IN_NAMES.search(name)
        if bad or not name.strip():
            problems.append(
                f"{key}: label name {name!r} "
                + (f"holds {bad.group()!r} (no markup or control characters in names)" if bad else "is empty")
            )
    values = [int(v) for v in labels.values() if isinstance(v, int)]
    for value in sorted({v for v in values if values.count(v) > 1}):
        names = [n for n, v in labels.items() if isinstance(v, int) and int(v) == value]
        problems.append(f"{key}: names {names} share the value {value} (each label needs its own value)")
    if not problems and (sorted(values) != list(range(len(values))) or len(values) < 2):
        problems.append(f"{key}: values must be consecutive integers 0..K-1 with a background 0, got {sorted(values)}")
    return problems


def _scalar_problems(meta: dict, where: str) -> list[str]:
    problems = []
    ending = meta.get("file_ending", ".nii.gz")
    if ending not in NIFTI_ENDINGS:
        problems.append(
            f"{where}: key file_ending: {ending!r} is not supported (only NIfTI: {', '.join(NIFTI_ENDINGS)})"
        )
    count = meta.get("numTraining")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
        problems.append(f"{where}: key numTraining: must be a non-negative integer, got {count!r}")
    return problems


def training_file_problems(root: str | Path, meta: dict, where: str) -> list[str]:
    """``numTraining`` and ``file_ending`` of a valid dataset.json against the files of ``imagesTr/``."""
    images = Path(root) / "imagesTr"
    if not images.is_dir():
        return []
    ending = meta.get("file_ending", ".nii.gz")
    names = [p.name for p in images.iterdir()]
    cases = [n for n in names if n.endswith("_0000" + ending) and not n.startswith(".")]
    problems = []
    if not cases:
        others = [e for e in NIFTI_ENDINGS if e != ending and any(n.endswith("_0000" + e) for n in names)]
        if others:
            problems.append(f"{where}: key file_ending: {ending!r}, but the files in {images} end in {others[0]!r}")
    count = meta.get("numTraining")
    if isinstance(count, int) and not isinstance(count, bool) and count != len(cases):
        hidden = sorted(n for n in names if n.startswith(".") and n.endswith("_0000" + ending))
        note = f" (hidden files, not read as cases: {', '.join(hidden)})" if hidden else ""
        problems.append(
            f"{where}: key numTraining: {count}, but {images} holds {len(cases)} cases "
            f"(files <case>_0000{ending}){note}"
        )
    return problems


def split_size_problem(dataset: str, num_cases: int) -> str | None:
    """A line naming ``dataset``, its case count and the split fractions when the split leaves fewer than
    :data:`MIN_TRAIN_CASES` training cases; None otherwise."""
    split = make_split([str(i) for i in range(num_cases)])
    sizes = {key: len(split[key]) for key in ("train", "val", "test")}
    if sizes["train"] >= MIN_TRAIN_CASES:
        return None
    fractions = "/".join(f"{split['fractions'][k]:g}" for k in ("train", "val", "test"))
    return (
        f"dataset {dataset}: {num_cases} case(s) are too few for the train/val/test split (fractions {fractions}: "
        f"{sizes['train']} train, {sizes['val']} val, {sizes['test']} test); training needs at least "
        f"{MIN_TRAIN_CASES} training case"
    )


def empty_validation_warning(dataset: str, num_cases: int) -> str | None:
    """A warning naming ``dataset`` when its split has no validation case (fewer than 10 cases)."""
    split = make_split([str(i) for i in range(num_cases)])
    if split["val"] or len(split["train"]) < MIN_TRAIN_CASES:
        return None
    return (
        f"dataset {dataset}: {num_cases} cases give no validation case (val fraction {split['fractions']['val']:g}); "
        "training runs without validation"
    )
