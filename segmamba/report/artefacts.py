"""The report step's artefacts: one registry entry per table or figure (``segmamba report <artefact>``).

Each artefact names its builder in :mod:`segmamba.report.build`, its kind (a table writes ``.csv``, ``.md`` and
``.tex`` beside each other, a figure one ``.png``) and the caption file of the HTML report
(``workflow/report/<caption>``), which its ``report_<artefact>`` rule attaches to the output.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from segmamba.errors import InputError

#: Output formats by kind: a table's files share one stem, a figure is one image.
FORMATS = {"table": ("csv", "md", "tex"), "figure": ("png",)}


@dataclass(frozen=True)
class Artefact:
    """One table or figure: ``builder(out, **inputs)`` writes it; ``caption`` is its HTML-report caption file."""

    name: str
    kind: str
    builder: Callable[..., None]
    caption: str
    description: str

    @property
    def formats(self) -> tuple[str, ...]:
        """File endings the artefact writes."""
        return FORMATS[self.kind]


def _paper_table(table: str) -> Callable[..., None]:
    def write(out: str, layout, synthetic, outcome_files=None) -> None:
        from segmamba.report import build

        build.make_paper_table(table, layout, synthetic, out, outcome_files)

    return write


def _dataset_table(out: str, dataset, entry, layout, synthetic, outcome_files=None) -> None:
    from segmamba.report import build

    build.make_dataset_table(dataset, entry, layout, synthetic, out, outcome_files)


def _table4(out: str, layout, dataset, synthetic, outcome_files=None, entry=None) -> None:
    from segmamba.report import build

    build.make_table4(layout, dataset, synthetic, out, outcome_files, entry)


def _table5(out: str, results, reduced_scale, dataset=None) -> None:
    from segmamba.report import build

    build.make_table5(results, reduced_scale, out, dataset)


def _figure4(out: str, dataset, layout, root, split, gt, predictions) -> None:
    from segmamba.report import build

    build.make_figure4(dataset, layout, root, split, gt, predictions, out)


def _training_curves(out: str, dataset, logs) -> None:
    from segmamba.report import build

    build.make_training_curves(logs, dataset, out)


def _efficiency_chart(out: str, results) -> None:
    from segmamba.report import build

    build.make_efficiency_chart(results, out)


ARTEFACTS: dict[str, Artefact] = {
    artefact.name: artefact
    for artefact in (
        Artefact(
            "table2",
            "table",
            _paper_table("table2"),
            "table2.rst",
            "Table 2: BraTS2023 and AIIB2023, compared methods (inputs: layout, synthetic, outcome_files)",
        ),
        Artefact(
            "table3",
            "table",
            _paper_table("table3"),
            "table3.rst",
            "Table 3: CRC-500, compared methods (inputs: layout, synthetic, outcome_files)",
        ),
        Artefact(
            "dataset_table",
            "table",
            _dataset_table,
            "dataset_table.rst",
            "the table of a dataset of your own (inputs: dataset, entry, layout, synthetic, outcome_files)",
        ),
        Artefact(
            "table4",
            "table",
            _table4,
            "table4.rst",
            "Table 4: the GSC/ToM ablation (inputs: layout, dataset, synthetic, outcome_files, entry)",
        ),
        Artefact(
            "table5",
            "table",
            _table5,
            "table5.rst",
            "Table 5: efficiency (inputs: results, reduced_scale, dataset)",
        ),
        Artefact(
            "figure4",
            "figure",
            _figure4,
            "fig4.rst",
            "Fig. 4-style visual comparison (inputs: dataset, layout, root, split, gt, predictions)",
        ),
        Artefact(
            "training_curves",
            "figure",
            _training_curves,
            "training_curves.rst",
            "training loss and validation Dice per epoch (inputs: dataset, logs)",
        ),
        Artefact(
            "efficiency_chart",
            "figure",
            _efficiency_chart,
            "efficiency.rst",
            "bar charts of TM, IM and IT (inputs: results)",
        ),
    )
}


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
        artefact.builder(output_stem(artefact, out), **inputs)
    except TypeError as exc:
        if "argument" not in str(exc):
            raise
        raise InputError(f"segmamba report {name}: --inputs do not fit ({artefact.description}): {exc}") from exc
