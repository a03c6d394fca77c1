"""A configured dataset: an nnU-Net v2 raw dataset's ``dataset.json`` (channels, labels, checked regions) and a
config entry (``datasets.<name>: {format, root, regions, ...}``) resolved into a complete
:class:`~segmamba.data.registry.DatasetDefinition` under the dataset's own name.

Standard library only (no numpy, no torch), like the registry: the workflow imports it while it parses the
Snakefile.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from segmamba.data.dataset_json import load_dataset_json, split_size_problem, training_file_problems
from segmamba.data.registry import (
    DATASETS,
    MEAN_SUFFIX,
    NAME_PATTERN,
    NNUNET,
    RESERVED_NAMES,
    DatasetDefinition,
    DatasetInfo,
    column_key,
    label_regions,
)
from segmamba.errors import ConfigError, InputError


def read_nnunet_dataset_json(
    root: str | Path, regions: dict | None = None, name: str = NNUNET
) -> tuple[str, DatasetInfo]:
    """Read an nnU-Net v2 raw dataset's ``dataset.json``: (file ending, info).

    Args:
        root: the dataset folder.
        regions: evaluation regions {name: [labels]}; None scores every foreground label on its own.
        name: the info's name.

    Raises:
        InputError: the file is missing or invalid (one line per problem, see
            :func:`~segmamba.data.dataset_json.load_dataset_json`), or a region names an unknown label; the
            message names the dataset folder, the file and the key.
    """
    meta, where = load_dataset_json(root)
    channels, labels = meta["channel_names"], meta["labels"]
    channel_names = tuple(channels[str(i)] for i in range(len(channels)))
    ending = meta.get("file_ending", ".nii.gz")
    label_names = {int(v): k for k, v in labels.items()}
    modality = "CT" if all(c.upper() == "CT" for c in channel_names) else "MRI"
    regions = label_regions(label_names) if not regions else _checked_regions(regions, label_names, where)
    _check_column_keys(regions, where)
    return ending, DatasetInfo(name, modality, channel_names, label_names, regions)


def _checked_regions(regions: dict, label_names: dict[int, str], where: str) -> dict[str, list[int]]:
    """Regions as {name: sorted labels}; a label that dataset.json does not define is an InputError."""
    checked = {}
    for region, labels in regions.items():
        if not isinstance(labels, list | tuple) or not labels or not all(isinstance(v, int) for v in labels):
            raise InputError(f"{where}: region {region!r} must be a non-empty list of label values, got {labels!r}")
        unknown = sorted(set(labels) - (set(label_names) - {0}))
        if unknown:
            foreground = {v: n for v, n in sorted(label_names.items()) if v > 0}
            raise InputError(
                f"{where}: region {region!r} names label(s) {unknown}, which are not foreground labels "
                f"of this dataset ({foreground})"
            )
        checked[str(region)] = sorted(set(labels))
    return checked


def _check_column_keys(regions: dict[str, list[int]], where: str) -> None:
    """Every region must give a distinct, non-empty metric-column suffix other than ``mean``."""
    seen: dict[str, str] = {}
    for region in regions:
        key = column_key(region)
        if not key or key == MEAN_SUFFIX or key in seen:
            clash = f"clashes with {seen[key]!r}" if key in seen else f"gives the column suffix {key!r}"
            raise InputError(
                f"{where}: label or region name {region!r} {clash}; metric columns are "
                f"dice_<name> and hd95_<name> in lower case (rename it, or give regions)"
            )
        seen[key] = region


def resolve_dataset(name: str, entry: dict) -> DatasetDefinition:
    """The definition of one configured dataset (``datasets.<name>`` of the workflow config).

    The paper's datasets keep their layout. Any other name needs ``format`` and ``root``; an nnU-Net
    dataset's channels and labels come from ``<root>/dataset.json`` and its regions from ``regions``.

    Raises:
        ConfigError: an invalid name, format or regions, a missing root folder or dataset.json; the message
            names the config key and the paths.
    """
    key = f"config datasets.{name}"
    if not re.fullmatch(NAME_PATTERN, name):
        raise ConfigError(f"{key}: dataset names must match {NAME_PATTERN}")
    if name in RESERVED_NAMES:
        raise ConfigError(f"{key}: {name} names a results folder or a paper table; give the dataset another name")
    layout = entry.get("format") or (name if name in DATASETS else None)
    root = entry.get("root")
    if name in DATASETS and layout != name:
        raise ConfigError(
            f"{key}: format {layout!r}: the paper's datasets keep their layout ({name}); "
            "give your data a name of its own"
        )
    if layout not in DATASETS:
        raise ConfigError(f"{key}: needs a format (one of {', '.join(DATASETS)}), got {layout!r}")
    if name not in DATASETS and not root:
        raise ConfigError(f"{key}: needs a root (the folder holding the dataset)")
    if entry.get("regions") and layout != NNUNET:
        raise ConfigError(f"{key}: regions apply to nnunet datasets only ({layout} has fixed regions)")
    if root and not Path(root).is_dir():
        raise ConfigError(f"{key}: root {root} does not exist or is not a folder")
    base = DATASETS[layout]
    changes = {"name": name, "display_label": base.display_label if name == layout else name}
    if layout == NNUNET:
        try:
            _, info = read_nnunet_dataset_json(root, entry.get("regions"), name)
        except InputError as exc:
            raise ConfigError("\n".join(f"{key}: {line}" for line in str(exc).splitlines())) from None
        _check_training_files(key, name, root)
        changes["info"] = info
    if entry.get("target_spacing"):
        changes["target_spacing"] = tuple(float(s) for s in entry["target_spacing"])
    if name != layout:
        changes.update(synthetic_kind=None, paper_table=None, paper_values=None, paper_note=None)
        changes.update(ablation_paper_values=None)
    return dataclasses.replace(base, **changes)


def _check_training_files(key: str, name: str, root: str) -> None:
    """numTraining, file_ending and the split's size against the files, while the workflow parses (dry run)."""
    meta, where = load_dataset_json(root)
    problems = training_file_problems(root, meta, where)
    ending = meta.get("file_ending", ".nii.gz")
    cases = [p for p in (Path(root) / "imagesTr").glob(f"*_0000{ending}") if not p.name.startswith(".")]
    if cases:
        problems.append(split_size_problem(name, len(cases)))
    problems = [f"{key}: {line}" for line in problems if line]
    if problems:
        raise ConfigError("\n".join(problems))


def nnunet_file_ending(root: str | Path) -> str:
    """The ``file_ending`` of an nnU-Net raw dataset's ``dataset.json`` (default ``.nii.gz``)."""
    meta, _ = load_dataset_json(root)
    return meta.get("file_ending", ".nii.gz")
