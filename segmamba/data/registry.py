"""The dataset registry: one definition per dataset layout, holding everything the code knows about it.

A :class:`DatasetDefinition` names a dataset's reader (a class of :mod:`segmamba.data.datasets`), its
synthetic stand-in (a ``segmamba synth`` kind), its channels, labels and evaluation regions
(:class:`DatasetInfo`), how it is evaluated (Dice/HD95 per region, or the AIIB airway metrics), the metrics
its tables report, its display label and the numbers the SegMamba paper publishes for it. The command lines'
``--dataset`` choices, the workflow's constants (``workflow/rules/*.smk``), the config schema's dataset
names and the tables (``segmamba.report``) are derived from :data:`DATASETS`.

Any nnU-Net v2 raw dataset is a dataset too: the ``nnunet`` definition has no fixed channels or labels;
:mod:`segmamba.data.dataset_config` reads them from the dataset's ``dataset.json`` and turns a config entry
(``datasets.<name>: {format: nnunet, root: ..., regions: ...}``) into a complete definition under the
dataset's own name.

This module uses the standard library only (no numpy, no torch), so that the workflow can import it while
it parses the Snakefile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from segmamba.errors import InputError

#: What a dataset name in the config (and so the ``{dataset}`` wildcard) looks like.
NAME_PATTERN = r"[a-z][a-z0-9_]*"

#: The layout of any nnU-Net v2 raw dataset (``dataset.json``, ``imagesTr/``, ``labelsTr/``).
NNUNET = "nnunet"

#: Suffix of the per-case mean columns (``dice_mean``, ``hd95_mean``) of nnU-Net datasets.
MEAN_SUFFIX = "mean"

#: The AIIB2023 airway metrics, in CSV column order.
AIIB_COLUMNS = ("iou", "dlr", "dbr", "precision", "leakage")

NIFTI_ENDINGS = (".nii.gz", ".nii")


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset contains: modality, channels, labels and the evaluation regions."""

    name: str
    modality: str  # "MRI" or "CT"
    channel_names: tuple[str, ...]
    label_names: dict[int, str]
    regions: dict[str, list[int]]

    @property
    def num_classes(self) -> int:
        """Number of classes including background."""
        return len(self.label_names)

    @property
    def region_based(self) -> bool:
        """True when the regions are not simply one per foreground label under the label's own name."""
        return self.regions != label_regions(self.label_names)

    def to_json(self) -> dict:
        """JSON-ready dict (label keys become strings)."""
        return {
            "name": self.name,
            "modality": self.modality,
            "channel_names": list(self.channel_names),
            "label_names": {str(k): v for k, v in sorted(self.label_names.items())},
            "regions": {k: list(v) for k, v in self.regions.items()},
            "num_classes": self.num_classes,
        }

    @classmethod
    def from_json(cls, obj: dict) -> DatasetInfo:
        """Inverse of :meth:`to_json` (``num_classes`` follows from the labels; other keys are ignored)."""
        return cls(
            name=obj["name"],
            modality=obj["modality"],
            channel_names=tuple(obj["channel_names"]),
            label_names={int(k): v for k, v in obj["label_names"].items()},
            regions={k: list(v) for k, v in obj["regions"].items()},
        )


#: Column groups of the tables (a Markdown table too wide for the screen is split by them).
DICE_GROUP, HD95_GROUP = "Dice (%)", "HD95 (mm)"

#: Names a dataset may not have: the folders under results/ and the paper tables' names (results/tables/).
RESERVED_NAMES = ("data", "efficiency", "tables", "figures", "logs", "benchmarks")
RESERVED_NAMES += ("table2", "table3", "table4", "table5")


@dataclass(frozen=True)
class ReportedMetric:
    """One metric a dataset's tables report.

    Args:
        key: the metric's name in the tables and in the paper's numbers, e.g. ``"dice_wt"``.
        label: column heading, e.g. ``"WT Dice (%)"``.
        columns: metrics-CSV columns whose per-case mean is the value (one column, or several for "Avg").
        scale: factor applied to the value (100 turns fractions into percent).
        group: the column group a wide table is split by, e.g. ``"Dice (%)"``.
    """

    key: str
    label: str
    columns: tuple[str, ...]
    scale: float = 1.0
    group: str = ""


#: The paper's numbers of one dataset: {method (model registry name): {metric key: value}}, in the paper's
#: row order; None marks a cell the paper leaves empty or that is not known.
PaperValues = dict[str, dict[str, float | None]]


@dataclass(frozen=True)
class DatasetDefinition:
    """Everything the code knows about one dataset.

    Args:
        name: the dataset's name (config key, ``{dataset}`` wildcard, results folder).
        layout: the registered definition whose reader and command-line name apply (``name`` itself for the
            registered datasets; ``nnunet`` or a paper layout for a dataset of your own).
        display_label: the name shown in tables and figures.
        description: one line for help texts and the config schema.
        reader: class name of the reader in :mod:`segmamba.data.datasets`.
        evaluation: ``"overlap"`` (Dice and HD95 per region) or ``"airway"`` (AIIB IoU, DLR, DBR, ...).
        info: channels, labels and regions; None until read from the dataset's ``dataset.json``.
        synthetic_kind: ``segmamba synth --kind`` of the synthetic stand-in; None: real data only.
        target_spacing: default preprocessing spacing in mm; None: the training cases' median spacing.
        bare_columns: the single region is scored into plain ``dice`` / ``hd95`` columns (CRC-500).
        mean_columns: add the per-case means over regions, ``dice_mean`` and ``hd95_mean``.
        reported: the tables' metrics; None derives them from the evaluation columns.
        paper_table: the paper table reporting this dataset (``"table2"``, ``"table3"``, the name of its output
            ``results/tables/<paper_table>.*``); None: not in the paper (the dataset gets a table of its own,
            ``results/tables/<name>.*``).
        paper_values: the paper's numbers in that table (Dice and IoU-like metrics in percent, HD95 in mm).
        paper_note: why some of the paper's cells are empty (printed under the table).
        ablation_paper_values: the paper's module ablation (Table 4) on this dataset, same shape.
    """

    name: str
    layout: str
    display_label: str
    description: str
    reader: str
    evaluation: str
    info: DatasetInfo | None = None
    synthetic_kind: str | None = None
    target_spacing: tuple[float, float, float] | None = None
    bare_columns: bool = False
    mean_columns: bool = False
    reported: tuple[ReportedMetric, ...] | None = None
    paper_table: str | None = None
    paper_values: PaperValues | None = None
    paper_note: str | None = None
    ablation_paper_values: PaperValues | None = None

    def require_info(self) -> DatasetInfo:
        """The dataset's info; a definition still waiting for its dataset.json raises InputError."""
        if self.info is None:
            raise InputError(f"dataset {self.name}: channels and labels come from its dataset.json, not read yet")
        return self.info

    def scored_regions(self) -> dict[str, tuple[int, ...]]:
        """Dice/HD95 regions as {column suffix: labels} ("" for the plain columns of ``bare_columns``)."""
        if self.evaluation != "overlap":
            return {}
        regions = self.require_info().regions
        if self.bare_columns:
            (labels,) = regions.values()
            return {"": tuple(labels)}
        return {column_key(name): tuple(labels) for name, labels in regions.items()}

    def metric_columns(self) -> tuple[str, ...]:
        """The metric columns of ``segmamba evaluate``'s CSV, in order (after ``case``)."""
        if self.evaluation == "airway":
            return AIIB_COLUMNS
        suffixes = list(self.scored_regions()) + ([MEAN_SUFFIX] if self.mean_columns else [])
        return tuple(f"{metric}_{s}" if s else metric for metric in ("dice", "hd95") for s in suffixes)

    def reported_metrics(self) -> tuple[ReportedMetric, ...]:
        """The metrics the tables report: the fixed list, or Dice and HD95 of every region plus their mean."""
        if self.reported is not None:
            return self.reported
        names = {column_key(name): name for name in self.require_info().regions}
        if self.mean_columns:
            names[MEAN_SUFFIX] = "Mean"
        metrics = []
        for suffix, name in names.items():
            metrics.append(ReportedMetric(f"dice_{suffix}", f"{name} Dice (%)", (f"dice_{suffix}",), 100.0, DICE_GROUP))
            metrics.append(ReportedMetric(f"hd95_{suffix}", f"{name} HD95 (mm)", (f"hd95_{suffix}",), 1.0, HD95_GROUP))
        return tuple(metrics)


def label_regions(label_names: dict[int, str]) -> dict[str, list[int]]:
    """One region per foreground label, named after it: {name: [label]}."""
    return {label_names[value]: [value] for value in sorted(label_names) if value > 0}


def column_key(name: str) -> str:
    """A label or region name as metric-column suffix: lower case, runs of other characters as ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _brats_row(*values: float) -> dict[str, float]:
    """One method's BraTS2023 numbers in Table 2's column order (WT, TC, ET, Avg; Dice then HD95 each)."""
    keys = ("dice_wt", "hd95_wt", "dice_tc", "hd95_tc", "dice_et", "hd95_et", "dice_avg", "hd95_avg")
    return dict(zip(keys, values, strict=True))


BRATS2023 = DatasetDefinition(
    name="brats2023",
    layout="brats2023",
    display_label="BraTS2023",
    description="BraTS2023 GLI brain tumours (MRI, 4 channels).",
    reader="BratsDataset",
    evaluation="overlap",
    info=DatasetInfo(
        name="brats2023",
        modality="MRI",
        channel_names=("t2w", "t2f", "t1n", "t1c"),
        label_names={0: "background", 1: "NCR", 2: "ED", 3: "ET"},
        regions={"WT": [1, 2, 3], "TC": [1, 3], "ET": [3]},
    ),
    synthetic_kind="brats",
    target_spacing=(1.0, 1.0, 1.0),
    reported=(
        ReportedMetric("dice_wt", "WT Dice (%)", ("dice_wt",), 100.0, DICE_GROUP),
        ReportedMetric("hd95_wt", "WT HD95 (mm)", ("hd95_wt",), 1.0, HD95_GROUP),
        ReportedMetric("dice_tc", "TC Dice (%)", ("dice_tc",), 100.0, DICE_GROUP),
        ReportedMetric("hd95_tc", "TC HD95 (mm)", ("hd95_tc",), 1.0, HD95_GROUP),
        ReportedMetric("dice_et", "ET Dice (%)", ("dice_et",), 100.0, DICE_GROUP),
        ReportedMetric("hd95_et", "ET HD95 (mm)", ("hd95_et",), 1.0, HD95_GROUP),
        ReportedMetric("dice_avg", "Avg Dice (%)", ("dice_wt", "dice_tc", "dice_et"), 100.0, DICE_GROUP),
        ReportedMetric("hd95_avg", "Avg HD95 (mm)", ("hd95_wt", "hd95_tc", "hd95_et"), 1.0, HD95_GROUP),
    ),
    paper_table="table2",
    # Paper Table 2 (BraTS2023 columns), transcribed from the paper.
    paper_values={
        "segresnet": _brats_row(92.02, 4.07, 89.10, 4.08, 83.66, 3.88, 88.26, 4.01),
        "uxnet": _brats_row(93.13, 4.56, 90.03, 5.68, 85.91, 4.19, 89.69, 4.81),
        "mednext": _brats_row(92.41, 4.98, 87.75, 4.67, 83.96, 4.51, 88.04, 4.72),
        "unetr": _brats_row(92.19, 6.17, 86.39, 5.29, 84.48, 5.03, 87.68, 5.49),
        "swinunetr": _brats_row(92.71, 5.22, 87.79, 4.42, 84.21, 4.48, 88.23, 4.70),
        "swinunetr_v2": _brats_row(93.35, 5.01, 89.65, 4.41, 85.17, 4.41, 89.39, 4.51),
        "segmamba": _brats_row(93.61, 3.37, 92.65, 3.85, 87.71, 3.48, 91.32, 3.56),
    },
)

AIIB2023 = DatasetDefinition(
    name="aiib2023",
    layout="aiib2023",
    display_label="AIIB2023",
    description="AIIB2023 airway trees (CT).",
    reader="AiibDataset",
    evaluation="airway",
    info=DatasetInfo(
        name="aiib2023",
        modality="CT",
        channel_names=("CT",),
        label_names={0: "background", 1: "airway"},
        regions={"airway": [1]},
    ),
    synthetic_kind="aiib",
    reported=(
        ReportedMetric("iou", "Airway IoU (%)", ("iou",), 100.0, "Airway (%)"),
        ReportedMetric("dlr", "Airway DLR (%)", ("dlr",), 100.0, "Airway (%)"),
        ReportedMetric("dbr", "Airway DBR (%)", ("dbr",), 100.0, "Airway (%)"),
    ),
    paper_table="table2",
    # Paper Table 2 (AIIB2023 columns), transcribed from the paper.
    paper_values={
        "segresnet": {"iou": 87.49, "dlr": 65.07, "dbr": 53.91},
        "uxnet": {"iou": 87.55, "dlr": 65.56, "dbr": 54.04},
        "mednext": {"iou": 85.81, "dlr": 57.43, "dbr": 47.34},
        "unetr": {"iou": 83.22, "dlr": 48.03, "dbr": 38.73},
        "swinunetr": {"iou": 87.11, "dlr": 63.31, "dbr": 52.15},
        "swinunetr_v2": {"iou": 87.51, "dlr": 64.68, "dbr": 53.19},
        "segmamba": {"iou": 88.59, "dlr": 70.21, "dbr": 61.33},
    },
)

CRC500 = DatasetDefinition(
    name="crc500",
    layout="crc500",
    display_label="CRC-500",
    description="CRC-500 colorectal cancer (CT, private).",
    reader="CrcDataset",
    evaluation="overlap",
    info=DatasetInfo(
        name="crc500",
        modality="CT",
        channel_names=("CT",),
        label_names={0: "background", 1: "tumour"},
        regions={"tumour": [1]},
    ),
    synthetic_kind="crc",
    bare_columns=True,
    reported=(
        ReportedMetric("dice", "Dice (%)", ("dice",), 100.0, DICE_GROUP),
        ReportedMetric("hd95", "HD95 (mm)", ("hd95",), 1.0, HD95_GROUP),
    ),
    paper_table="table3",
    # Paper Table 3 was lost in the text extraction. Only two of its rows are known from elsewhere in the paper:
    # SegMamba's (stated in the text) and UX-Net's (its row in the CRC-500 ablation, Table 4). Every other cell
    # is left empty (None) rather than guessed.
    paper_values={
        "segresnet": {"dice": None, "hd95": None},
        "uxnet": {"dice": 45.73, "hd95": 49.73},
        "mednext": {"dice": None, "hd95": None},
        "unetr": {"dice": None, "hd95": None},
        "swinunetr": {"dice": None, "hd95": None},
        "swinunetr_v2": {"dice": None, "hd95": None},
        "segmamba": {"dice": 48.02, "hd95": 30.89},
    },
    paper_note=(
        "Of the paper's Table 3 only two rows are known here: UX-Net (its row in the paper's CRC-500 ablation, "
        "Table 4) and SegMamba (quoted in the paper's text); the other methods have no paper row."
    ),
    # Paper Table 4: the module ablation on CRC-500, transcribed from the paper.
    ablation_paper_values={
        "uxnet": {"dice": 45.73, "hd95": 49.73},
        "segmamba_m1": {"dice": 45.34, "hd95": 43.01},
        "segmamba_m2": {"dice": 46.65, "hd95": 37.01},
        "segmamba_m3": {"dice": 47.22, "hd95": 33.32},
        "segmamba": {"dice": 48.02, "hd95": 30.89},
    },
)

NNUNET_DEFINITION = DatasetDefinition(
    name=NNUNET,
    layout=NNUNET,
    display_label="nnU-Net dataset",
    description="Any nnU-Net v2 raw dataset (channels and labels from its dataset.json).",
    reader="NnunetDataset",
    evaluation="overlap",
    mean_columns=True,
)

#: Every registered dataset layout by name (the command lines' ``--dataset`` choices, in this order).
DATASETS: dict[str, DatasetDefinition] = {d.name: d for d in (BRATS2023, AIIB2023, CRC500, NNUNET_DEFINITION)}

#: The datasets of the paper (they have published numbers and synthetic stand-ins).
PAPER_DATASETS: tuple[str, ...] = tuple(name for name, d in DATASETS.items() if d.paper_table)

#: ``segmamba synth --kind`` choices: the synthetic stand-ins of the registered datasets.
SYNTHETIC_KINDS: tuple[str, ...] = tuple(d.synthetic_kind for d in DATASETS.values() if d.synthetic_kind)


#: The dataset scored with the BraTS 2023 challenge's lesion-wise Dice and HD95 (their table sits beside Table 2).
LESION_WISE_DATASET = "brats2023"

#: The dataset of the paper's module ablation (Table 4).
(PAPER_ABLATION_DATASET,) = (name for name, d in DATASETS.items() if d.ablation_paper_values)


def get_definition(name: str) -> DatasetDefinition:
    """The registered definition of a layout name; InputError naming the choices otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise InputError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}") from None


def paper_datasets(table: str) -> list[str]:
    """Names of the registered datasets whose published numbers are in ``table`` (e.g. ``"table2"``)."""
    return [name for name, d in DATASETS.items() if d.paper_table == table]


def dataset_label(name: str) -> str:
    """The name a dataset is shown under: a registered dataset's display label, any other dataset its own name."""
    return DATASETS[name].display_label if name in DATASETS else name
