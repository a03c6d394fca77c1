"""The dataset file ``results/{dataset}/dataset.json``: a configured dataset, resolved and checked once.

``segmamba check`` resolves the dataset's config entry (:func:`~segmamba.data.dataset_config.resolve_dataset`:
the only place that reads a config entry and an nnU-Net ``dataset.json`` for channels, labels and regions),
checks every case, and writes this file. Every later step (split, preprocess, ground truth, evaluation, the
report) takes it as ``--dataset-file`` and reads it through :class:`DatasetFile`, the one typed accessor, as
nnU-Net's trainer, predictor and evaluation read ``dataset.json`` and the plans through ``PlansManager``. A
changed region or spacing rewrites the file, and the workflow reruns what depends on it.

Fields (JSON)::

    name, layout, root, synthetic, display_label, paper_table,
    modality, channel_names, label_names {value: name}, regions {name: [labels]}, file_ending,
    target_spacing ([x, y, z] mm, or null: the training cases' median), metric_columns, reported_metrics,
    case_ids, fingerprint {"definition": SHA-256 of the fields above, "case_list_hash": as split.json's}

``fingerprint.case_list_hash`` is the hash that ``split.json`` records (:func:`segmamba.data.split.case_list_hash`)
and the data fingerprint of checkpoints, predictions and metrics carries (:mod:`segmamba.data.fingerprint`);
``fingerprint.definition`` changes with anything a table or a metric depends on.

Standard library only (no numpy): the report command imports it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from segmamba.data.registry import (
    DATASETS,
    NNUNET,
    DatasetDefinition,
    DatasetInfo,
    get_definition,
)
from segmamba.data.split import case_list_hash
from segmamba.errors import InputError
from segmamba.io_utils import write_text_atomic

#: The dataset file's name in a dataset's results folder.
DATASET_FILE = "dataset.json"

#: The fields of a dataset's :class:`DatasetInfo` the file records (in :meth:`DatasetInfo.to_json`'s form).
INFO_FIELDS = ("modality", "channel_names", "label_names", "regions")

#: The fields of a dataset file besides its fingerprint (which covers them all).
FIELDS = (
    "name",
    "layout",
    "root",
    "synthetic",
    "display_label",
    "paper_table",
    *INFO_FIELDS,
    "file_ending",
    "target_spacing",
    "metric_columns",
    "reported_metrics",
    "case_ids",
)


@dataclass(frozen=True)
class DatasetFile:
    """A resolved dataset as the dataset file holds it (typed accessor of ``results/{dataset}/dataset.json``).

    Args:
        definition: the dataset's complete definition (registry layout plus channels, labels and regions).
        root: the raw data folder (the configured root, or the synthetic stand-in's folder).
        synthetic: whether ``root`` is a synthetic stand-in (no root configured).
        file_ending: the image file ending of an nnU-Net layout (``.nii.gz``); None for the other layouts.
        case_ids: the sorted case ids found by the check.
    """

    definition: DatasetDefinition
    root: str
    synthetic: bool = False
    file_ending: str | None = None
    case_ids: tuple[str, ...] = ()

    # ------------------------------------------------------------------------------------------ accessors
    @property
    def name(self) -> str:
        """The dataset's name (config key, results folder)."""
        return self.definition.name

    @property
    def layout(self) -> str:
        """The registered layout whose reader and evaluation apply (``nnunet`` for a dataset of your own)."""
        return self.definition.layout

    @property
    def info(self) -> DatasetInfo:
        """Modality, channels, labels and evaluation regions."""
        return self.definition.require_info()

    @property
    def regions(self) -> dict[str, list[int]]:
        """The checked evaluation regions {name: [labels]}."""
        return self.info.regions

    @property
    def target_spacing(self) -> tuple[float, float, float] | None:
        """The preprocessing spacing in mm (None: the training cases' median spacing)."""
        return self.definition.target_spacing

    @property
    def display_label(self) -> str:
        """The name tables and figures show."""
        return self.definition.display_label

    @property
    def reader_name(self) -> str:
        """The name :func:`segmamba.data.datasets.open_dataset` opens the raw data under: the layout, or an
        nnU-Net dataset's own name."""
        return self.name if self.layout == NNUNET else self.layout

    @property
    def known(self) -> tuple[str, DatasetInfo] | None:
        """An nnU-Net dataset's (file ending, info) for its reader, which then does not read the raw
        ``dataset.json`` again (None for the other layouts, whose readers know their labels)."""
        return (self.file_ending or ".nii.gz", self.info) if self.layout == NNUNET else None

    def open(self, require_labels: bool = True, **options):
        """A reader of the raw cases (:func:`segmamba.data.datasets.open_dataset`; ``options``: its
        ``max_voxels``) with the channels, labels and regions of this file."""
        from segmamba.data.datasets import open_dataset

        return open_dataset(self.reader_name, self.root, require_labels, known=self.known, **options)

    # ------------------------------------------------------------------------------------------ JSON form
    def fields(self) -> dict[str, Any]:
        """The file's content without the fingerprint (the fields of the module docstring, in order)."""
        definition, info = self.definition, self.info.to_json()
        return {
            "name": definition.name,
            "layout": definition.layout,
            "root": str(self.root),
            "synthetic": bool(self.synthetic),
            "display_label": definition.display_label,
            "paper_table": definition.paper_table,
            **{key: info[key] for key in INFO_FIELDS},
            "file_ending": self.file_ending,
            "target_spacing": None if definition.target_spacing is None else list(definition.target_spacing),
            "metric_columns": list(definition.metric_columns()),
            "reported_metrics": [dataclasses.asdict(m) for m in definition.reported_metrics()],
            "case_ids": list(self.case_ids),
        }

    def fingerprint(self) -> dict[str, str]:
        """``{"definition": SHA-256 of :meth:`fields` as canonical JSON, "case_list_hash": split.json's hash}``."""
        canonical = json.dumps(self.fields(), sort_keys=True, separators=(",", ":"))
        return {
            "definition": hashlib.sha256(canonical.encode()).hexdigest(),
            "case_list_hash": case_list_hash(list(self.case_ids)),
        }

    def to_json(self) -> dict[str, Any]:
        """The file's content: :meth:`fields` and the fingerprint."""
        return {**self.fields(), "fingerprint": self.fingerprint()}

    def write(self, path: str | os.PathLike) -> None:
        """Write the file atomically, keys in the order of :data:`FIELDS` (regions keep their order: it is the
        order of the metric columns)."""
        write_text_atomic(path, json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def from_json(cls, content: dict, where: str = DATASET_FILE) -> DatasetFile:
        """The accessor of a dataset file's content; a missing or invalid field is an InputError naming
        ``where`` and the key, and a file edited by hand (its fingerprint no longer matches) too.

        The definition is the layout's registry definition with the file's name, labels, regions and spacing, so
        that it equals what :func:`~segmamba.data.dataset_config.resolve_dataset` gave the writer; the metric
        columns and reported metrics follow from it (the file records them for its readers, and the fingerprint
        holds them to the definition)."""
        missing = [key for key in (*FIELDS, "fingerprint") if key not in content]
        if missing:
            raise InputError(f"{where}: not a dataset file (missing {', '.join(missing)}); rerun `segmamba check`")
        layout = content["layout"]
        if layout not in DATASETS:
            raise InputError(f"{where}: layout {layout!r} is not one of {', '.join(DATASETS)}")
        name = content["name"]
        info = DatasetInfo.from_json(content)
        spacing = content["target_spacing"]
        changes = {
            "name": name,
            "display_label": content["display_label"],
            "info": info,
            "target_spacing": None if spacing is None else tuple(float(s) for s in spacing),
        }
        if name != layout:  # a dataset of your own: no paper numbers, no synthetic stand-in
            changes.update(synthetic_kind=None, paper_table=None, paper_values=None, paper_note=None)
            changes.update(ablation_paper_values=None)
        dataset_file = cls(
            definition=dataclasses.replace(DATASETS[layout], **changes),
            root=content["root"],
            synthetic=bool(content["synthetic"]),
            file_ending=content["file_ending"],
            case_ids=tuple(content["case_ids"]),
        )
        if dataset_file.fingerprint() != content["fingerprint"]:
            raise InputError(
                f"{where}: its fingerprint does not match its fields (edited by hand?); change the config and "
                "rerun `segmamba check` instead"
            )
        return dataset_file


def read_dataset_file(path: str | os.PathLike) -> DatasetFile:
    """Read ``results/{dataset}/dataset.json`` (written by ``segmamba check``) into its accessor.

    Raises:
        InputError: the file is missing, not JSON, or not a dataset file; the message names the file.
    """
    try:
        content = json.loads(open(path).read())
    except OSError as exc:
        raise InputError(f"dataset file {path}: cannot read ({exc.strerror}); `segmamba check` writes it") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"dataset file {path}: not valid JSON ({exc})") from None
    if not isinstance(content, dict):
        raise InputError(f"dataset file {path}: expected a JSON object")
    return DatasetFile.from_json(content, f"dataset file {path}")


def resolve_dataset_file(name: str, entry: dict, root: str | os.PathLike, case_ids=()) -> DatasetFile:
    """A config entry (``datasets.<name>``) resolved into a dataset file (what ``segmamba check --entry``
    writes): the definition of :func:`~segmamba.data.dataset_config.resolve_dataset` with the raw data at
    ``root`` (the configured root, or the synthetic stand-in's folder when the entry has none).

    Raises:
        ConfigError: an invalid entry, naming the config key (``resolve_dataset``).
    """
    from segmamba.data.dataset_config import nnunet_file_ending, resolve_dataset

    definition = resolve_dataset(name, entry)
    ending = nnunet_file_ending(root) if definition.layout == NNUNET else None
    synthetic = not entry.get("root")
    return DatasetFile(definition, str(root), synthetic=synthetic, file_ending=ending, case_ids=tuple(case_ids))


def builtin_dataset_file(layout: str, root: str | os.PathLike | None) -> DatasetFile:
    """The by-hand shorthand ``--dataset <layout> --root <folder>``: a registered layout at ``root``.

    A paper dataset has its registry definition; ``nnunet`` reads the folder's ``dataset.json`` (one region per
    foreground label; write a dataset file with ``segmamba check --entry`` for other regions). The case list
    stays empty: no check ran.
    """
    from segmamba.data.dataset_config import read_nnunet_dataset_json

    definition = get_definition(layout)  # "unknown dataset ..., choose one of ..."
    if layout != NNUNET:
        return DatasetFile(definition, str(root or ""))
    if not root:
        raise InputError("--dataset nnunet needs --root: the dataset folder whose dataset.json names the labels")
    ending, info = read_nnunet_dataset_json(root)
    return DatasetFile(dataclasses.replace(definition, info=info), str(root), file_ending=ending)
