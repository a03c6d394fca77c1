"""The report step: read the result files, write each table and figure (``segmamba report <artefact>``).

``ARTEFACTS`` (at the end) is the registry of the step: name -> builder, kind (a table writes ``.csv``, ``.md``
and ``.tex`` beside each other, a figure one ``.png``) and the HTML-report caption file
(``workflow/report/<caption>``) that its ``report_<artefact>`` rule attaches. The builders take plain paths
(as the rules pass them in ``--inputs``) and delegate to ``segmamba.report.tables``, ``.efficiency_table``,
``.render`` and ``.figures``, imported when a builder runs, so that the command line starts without pandas or
matplotlib; the statistics artefacts' builders (lesion-wise table, rank stability, blob plot, significance
map) live in ``segmamba.report.statistics_build``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from segmamba.data.dataset_file import read_dataset_file
from segmamba.data.registry import DATASETS, PAPER_ABLATION_DATASET, DatasetDefinition, dataset_label, paper_datasets
from segmamba.errors import InputError
from segmamba.report import paper
from segmamba.report.cost_table import make_cost_table
from segmamba.report.statistics_build import (
    make_lesionwise_table,
    make_rank_blobs,
    make_rank_stability,
    make_significance_map,
)

#: Image channel preferred for the visual comparison (FLAIR for BraTS; CT datasets have one channel).
PREFERRED_CHANNELS = ("t2f", "flair", "CT")

TITLES = {
    "table2": "Table 2: BraTS2023 (Dice %, HD95 mm) and AIIB2023 (IoU, DLR, DBR %), compared methods",
    "table3": "Table 3: CRC-500 (Dice %, HD95 mm), compared methods",
    "table4": "Table 4: ablation of the GSC and ToM modules",
    "table5": "Table 5: efficiency (training memory TM, inference memory IM, inference throughput IT)",
}


def make_paper_table(
    table: str,
    layout: Mapping[str, Mapping[str, str]],
    synthetic: Mapping[str, bool],
    prefix: str,
    outcome_files: Mapping[str, Mapping[str, Mapping[str, str]]] | None = None,
    statistics: Mapping | None = None,
) -> None:
    """Write Table 2 or 3 from ``{dataset: {model: metrics CSV}}`` to ``<prefix>.csv|.md|.tex``.

    ``outcome_files``: ``{dataset: {model: {"train_summary": path, "metrics_summary": path}}}`` (``read_outcomes``).
    ``statistics``: ``{"reference": model, "resamples": n, "seed": s}`` (``StatisticsSettings.from_inputs``).
    """
    from segmamba.report import notes, render, tables
    from segmamba.report.protocol_inputs import read_metrics_layout, read_outcomes
    from segmamba.report.statistics import StatisticsSettings

    settings = StatisticsSettings.from_inputs(statistics)
    metrics = {dataset: read_metrics_layout(models) for dataset, models in layout.items()}
    outcomes = {dataset: read_outcomes(files) for dataset, files in (outcome_files or {}).items()}
    tidy = tables.build_paper_table(table, metrics, synthetic, outcomes, settings)
    extra = [DATASETS[name].paper_note for name in paper_datasets(table) if DATASETS[name].paper_note]
    render.write_table(tidy, prefix, TITLES[table], notes.accuracy_notes(tidy, extra, settings))


def make_paper_table_of_files(
    table: str,
    layout: Mapping[str, Mapping[str, str]],
    dataset_files: Mapping[str, str],
    prefix: str,
    outcome_files: Mapping[str, Mapping[str, Mapping[str, str]]] | None = None,
    statistics: Mapping | None = None,
    synthetic: Mapping[str, bool] | None = None,
) -> None:
    """:func:`make_paper_table` with ``{dataset: dataset file}`` (``results/<dataset>/dataset.json``, which says
    whether the dataset is a synthetic stand-in) of the datasets that ran; ``synthetic`` flags the configured
    datasets of the table that did not run (they have no dataset file)."""
    flags = {**(synthetic or {}), **{d: read_dataset_file(path).synthetic for d, path in dataset_files.items()}}
    make_paper_table(table, layout, flags, prefix, outcome_files, statistics)


def make_dataset_table(
    dataset_file: str,
    layout: Mapping[str, str],
    prefix: str,
    outcome_files: Mapping[str, Mapping[str, str]] | None = None,
    statistics: Mapping | None = None,
) -> None:
    """Write the table of a dataset the paper does not report from ``{model: metrics CSV}`` to ``<prefix>.*``.

    ``dataset_file``: the dataset's ``results/<dataset>/dataset.json``, which defines its metrics.
    """
    from segmamba.report import notes, render, tables
    from segmamba.report.protocol_inputs import read_metrics_layout, read_outcomes
    from segmamba.report.statistics import StatisticsSettings

    settings = StatisticsSettings.from_inputs(statistics)
    dataset = read_dataset_file(dataset_file)
    definition = dataset.definition
    outcomes = read_outcomes(outcome_files)
    tidy = tables.build_dataset_table(definition, read_metrics_layout(layout), dataset.synthetic, outcomes, settings)
    groups = ", ".join(dict.fromkeys(tidy["group"]))
    title = f"{dataset_label(dataset.name)}: {groups}, compared methods"
    render.write_table(tidy, prefix, title, notes.accuracy_notes(tidy, [dataset_note(definition)], settings))


def dataset_note(definition: DatasetDefinition) -> str:
    """What a dataset of your own is: its layout, channels and the scored labels or regions."""
    info = definition.require_info()
    layout = DATASETS[definition.layout].display_label
    if info.region_based:
        scored = "regions " + ", ".join(f"{name} = labels {sorted(labels)}" for name, labels in info.regions.items())
    else:
        scored = "labels " + ", ".join(f"{value} {name}" for value, name in sorted(info.label_names.items()) if value)
    return (
        f"Dataset {definition.name} ({layout}; channels {', '.join(info.channel_names)}; {scored}) "
        "is not in the paper: no paper values."
    )


def make_table4(
    layout: Mapping[str, str],
    dataset_file: str,
    prefix: str,
    outcome_files: Mapping[str, Mapping[str, str]] | None = None,
    statistics: Mapping | None = None,
) -> None:
    """Write Table 4 from ``{model: metrics CSV}`` of the ablation dataset to ``<prefix>.csv|.md|.tex``.

    ``dataset_file``: the ablation dataset's ``results/<dataset>/dataset.json``.
    """
    from segmamba.report import notes, render, tables
    from segmamba.report.protocol_inputs import read_metrics_layout, read_outcomes
    from segmamba.report.statistics import StatisticsSettings

    settings = StatisticsSettings.from_inputs(statistics)
    dataset = read_dataset_file(dataset_file)
    definition = dataset.definition
    tidy = tables.build_table4(
        read_metrics_layout(layout), definition, dataset.synthetic, read_outcomes(outcome_files), settings
    )
    note = f"Dataset: {dataset_label(dataset.name)}"
    if not definition.ablation_paper_values:
        note += f" (the paper's ablation uses {dataset_label(PAPER_ABLATION_DATASET)}; no paper values)"
    note += ". LC = large-kernel convolution, GSC = gated spatial convolution, ToM = tri-orientated Mamba."
    render.write_table(tidy, prefix, TITLES["table4"], notes.accuracy_notes(tidy, [note], settings))


def make_table5(paths: Sequence[str], reduced_scale: bool, prefix: str, dataset: str | None = None) -> None:
    """Write Table 5 from efficiency JSONs to ``<prefix>.csv|.md|.tex``.

    ``dataset``: the dataset whose channels and classes the models were measured with (named in the notes).
    """
    from segmamba.report import efficiency_table, notes, render

    records = [efficiency_table.read_efficiency(path) for path in paths]
    tidy = efficiency_table.build_table5(records, reduced_scale)
    table_notes = notes.efficiency_notes(tidy, reduced_scale)
    if dataset:
        shapes = sorted({(r["in_channels"], r["out_channels"]) for r in records if r["in_channels"]})
        measured = "; ".join(f"{c} input channel(s), {k} output classes" for c, k in shapes)
        shaped = f"Inputs: random volumes shaped like {dataset_label(dataset)}"
        table_notes.append(f"{shaped} ({measured})." if measured else f"{shaped}.")
    render.write_table(tidy, prefix, TITLES["table5"], table_notes)


def choose_channel(channel_names: Sequence[str]) -> int:
    """Index of the image channel shown in the visual comparison (FLAIR if present, else the first)."""
    lowered = [name.lower() for name in channel_names]
    for preferred in PREFERRED_CHANNELS:
        if preferred.lower() in lowered:
            return lowered.index(preferred.lower())
    return 0


def make_figure4(
    dataset_file: str,
    split_path: str,
    gt_dir: str,
    prediction_dirs: Mapping[str, str],
    out_path: str,
) -> None:
    """Fig. 4 panel of one dataset: the test slice with the largest ground-truth foreground cross-section.

    Every test case's ground truth is read (one at a time); the case and axial slice whose foreground
    cross-section is largest are shown, the image beside the ground truth and each model's prediction.

    Args:
        dataset_file: the dataset's ``results/<dataset>/dataset.json`` (its name, shown in the title, and its raw
            data, for the image).
        split_path: split.json (its ``test`` list).
        gt_dir: ground-truth label maps ``<case>.nii.gz``.
        prediction_dirs: ``{model: prediction folder}`` in panel order.
        out_path: PNG to write.
    """
    import nibabel as nib
    import numpy as np

    from segmamba.report import figures

    dataset = read_dataset_file(dataset_file)
    test_cases = sorted(json.loads(open(split_path).read())["test"])
    if not test_cases:
        raise InputError(f"{split_path}: the test split is empty; nothing to show")

    def read_label(case: str) -> np.ndarray:
        path = os.path.join(gt_dir, f"{case}.nii.gz")
        if not os.path.exists(path):
            raise InputError(f"case {case}: ground truth {path} missing")
        return np.asarray(nib.load(path).dataobj)

    chosen, slice_index = figures.choose_case_and_slice((case, read_label(case)) for case in test_cases)
    reader = dataset.open()
    case = reader.load_case(chosen)
    channel = choose_channel(reader.info.channel_names)
    ground_truth = read_label(chosen)
    predictions = {}
    for model, folder in prediction_dirs.items():
        path = os.path.join(folder, f"{chosen}.nii.gz")
        if not os.path.exists(path):
            raise InputError(f"case {chosen}: prediction {path} missing")
        predictions[paper.method_label(model)] = np.asarray(nib.load(path).dataobj)
    title = f"{dataset_label(dataset.name)}: case {chosen}, {reader.info.channel_names[channel]}"
    figures.plot_visual_comparison(
        case.image[channel],
        ground_truth,
        predictions,
        out_path,
        title,
        slice_index=slice_index,
        label_names=dict(reader.info.label_names),
    )


def make_training_curves(logs: Mapping[str, str], dataset: str, out_path: str) -> None:
    """Training curves of every model on one dataset from ``{model: train_log.csv}``."""
    import pandas as pd

    from segmamba.report import figures

    frames = {paper.method_label(model): pd.read_csv(path) for model, path in logs.items()}
    title = f"Training on {dataset_label(dataset)}"
    figures.plot_training_curves(frames, out_path, title)


def make_efficiency_chart(paths: Sequence[str], out_path: str) -> None:
    """Efficiency bar chart from efficiency JSONs."""
    from segmamba.report import efficiency_table, figures

    records = [efficiency_table.read_efficiency(path) for path in paths]
    figures.plot_efficiency(records, out_path, "Efficiency (Table 5)")


# ------------------------------------------------------------------- the artefacts of `segmamba report`

#: Output formats by kind: a table's files share one stem (the builder's ``prefix``), a figure is one image
#: (its ``out_path``).
FORMATS = {"table": ("csv", "md", "tex"), "figure": ("png",)}
OUTPUT_ARGUMENT = {"table": "prefix", "figure": "out_path"}


@dataclass(frozen=True)
class Artefact:
    """One table or figure: ``builder(**inputs, prefix|out_path=...)`` writes it; ``caption`` is its HTML-report
    caption file; ``inputs`` names the builder's keyword arguments that ``--inputs`` gives."""

    name: str
    kind: str
    builder: Callable[..., None]
    caption: str
    inputs: str

    @property
    def formats(self) -> tuple[str, ...]:
        """File endings the artefact writes."""
        return FORMATS[self.kind]


PAPER_TABLE_INPUTS = "layout, dataset_files, outcome_files, statistics, synthetic"
RANK_INPUTS = "dataset_file, layout, statistics"

ARTEFACTS: dict[str, Artefact] = {
    artefact.name: artefact
    for artefact in (
        Artefact("table2", "table", partial(make_paper_table_of_files, "table2"), "table2.rst", PAPER_TABLE_INPUTS),
        Artefact("table3", "table", partial(make_paper_table_of_files, "table3"), "table3.rst", PAPER_TABLE_INPUTS),
        Artefact(
            "dataset_table", "table", make_dataset_table, "dataset_table.rst",
            "dataset_file, layout, outcome_files, statistics",
        ),
        Artefact(
            "table4", "table", make_table4, "table4.rst",
            "layout, dataset_file, outcome_files, statistics",
        ),
        Artefact(
            "lesionwise_table", "table", make_lesionwise_table, "lesionwise_table.rst",
            "dataset_file, layout, outcome_files, statistics",
        ),
        Artefact("rank_stability", "table", make_rank_stability, "rank_stability.rst", RANK_INPUTS),
        Artefact("rank_blobs", "figure", make_rank_blobs, "rank_blobs.rst", RANK_INPUTS),
        Artefact("significance_map", "figure", make_significance_map, "significance_map.rst", RANK_INPUTS),
        Artefact("table5", "table", make_table5, "table5.rst", "paths, reduced_scale, dataset"),
        Artefact(
            "figure4", "figure", make_figure4, "fig4.rst",
            "dataset_file, split_path, gt_dir, prediction_dirs",
        ),
        Artefact("training_curves", "figure", make_training_curves, "training_curves.rst", "logs, dataset"),
        Artefact("efficiency_chart", "figure", make_efficiency_chart, "efficiency.rst", "paths"),
        Artefact("cost_table", "table", make_cost_table, "cost_table.rst", "dataset, runs"),
    )
}  # fmt: skip


def output_stem(artefact: Artefact, out: str | os.PathLike) -> str:
    """The path a builder writes to: a table's stem (``.csv``/``.md``/``.tex`` removed), a figure's path."""
    out = os.fspath(out)
    if artefact.kind == "table":
        for ending in artefact.formats:
            if out.endswith("." + ending):
                return out[: -len(ending) - 1]
    return out


def write_artefact(name: str, inputs: Mapping[str, Any], out: str | os.PathLike) -> None:
    """Write artefact ``name`` from its ``inputs`` (the builder's keyword arguments) to ``out``.

    Raises:
        InputError: unknown artefact or inputs the builder does not take (naming them).
    """
    if name not in ARTEFACTS:
        raise InputError(f"unknown artefact {name!r}; choose one of {', '.join(ARTEFACTS)}")
    artefact = ARTEFACTS[name]
    try:
        artefact.builder(**inputs, **{OUTPUT_ARGUMENT[artefact.kind]: output_stem(artefact, out)})
    except TypeError as exc:
        if "argument" not in str(exc):
            raise
        raise InputError(f"segmamba report {name}: --inputs must hold {artefact.inputs}: {exc}") from exc
