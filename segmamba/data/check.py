"""Dataset integrity check: every problem of every case, one line each, naming the case and the file."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np

from segmamba.data.dataset_json import empty_validation_warning, split_size_problem
from segmamba.data.datasets import Dataset, problem
from segmamba.data.parallel import map_cases


@dataclass
class CheckReport:
    """Result of :func:`check_dataset`: problem lines plus per-case geometry for the summary."""

    dataset: str
    num_cases: int
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    shapes: list[tuple[int, ...]] = field(default_factory=list)
    spacings: list[tuple[float, ...]] = field(default_factory=list)
    label_values: set[int] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def summary(self) -> str:
        """A short human-readable summary of a clean dataset."""
        shapes = np.array(self.shapes)
        spacing = [round(float(s), 3) for s in np.median(np.array(self.spacings), 0)]
        return (
            f"{self.dataset}: {self.num_cases} cases OK; shape min {shapes.min(0).tolist()} max "
            f"{shapes.max(0).tolist()}; median spacing {spacing} mm; label values {sorted(self.label_values)}"
        )


def _check_one(dataset: Dataset, case_id: str) -> tuple[list[str], tuple | None, tuple | None, set[int]]:
    case, problems = dataset.read_case(case_id)
    if case is None:
        return problems, None, None, set()
    values: set[int] = set()
    if case.label is not None:
        values = {int(v) for v in np.unique(case.label)}
        if values <= {0}:
            problems.append(problem(case_id, case.label_path, "label map has no foreground (empty case)"))
    return problems, tuple(int(s) for s in case.image.shape[1:]), tuple(float(s) for s in case.spacing), values


def check_dataset(dataset: Dataset, workers: int = 1, name: str | None = None) -> CheckReport:
    """Read every case of ``dataset`` and collect all problems (nothing is raised for bad cases), including a
    dataset too small for the train/val/test split; skipped hidden files and an empty validation set are warnings.

    ``name``: the dataset's own name in the report (default: its reader's, e.g. ``nnunet``).
    """
    case_ids = dataset.case_ids()
    report = CheckReport(name or dataset.info.name, len(case_ids), problems=dataset.layout_problems())
    report.problems += [line for line in [split_size_problem(report.dataset, len(case_ids))] if line]
    report.warnings = dataset.layout_warnings()
    report.warnings += [line for line in [empty_validation_warning(report.dataset, len(case_ids))] if line]
    for problems, shape, spacing, values in map_cases(partial(_check_one, dataset), case_ids, workers, "check"):
        report.problems += problems
        if shape is not None:
            report.shapes.append(shape)
            report.spacings.append(spacing)
            report.label_values |= values
    return report
