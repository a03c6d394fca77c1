"""Text of ``segmamba status``: one line per training run, then the existing tables per dataset."""

from __future__ import annotations

from pathlib import Path

from segmamba.status.runs import RunStatus, dataset_tables, find_runs, result_datasets

COLUMNS = ("dataset", "model", "seed", "fold", "iteration", "val Dice", "elapsed", "ETA", "collapsed", "finished")


def duration(seconds: float | None) -> str:
    """``h:mm:ss`` (``-`` when unknown)."""
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def yes_no(value: bool | None) -> str:
    """``yes`` / ``no`` / ``-`` (unknown)."""
    return "-" if value is None else ("yes" if value else "no")


def run_cells(run: RunStatus) -> list[str]:
    """The table cells of one run (in COLUMNS order)."""
    finished = "yes" if run.finished else f"no (updated {duration(run.updated_s_ago)} ago)"
    return [
        run.dataset,
        run.model,
        "-" if run.seed is None else str(run.seed),
        run.fold or "-",
        f"{run.iteration}/{run.total if run.total else '?'}",
        "-" if run.val_dice is None else f"{run.val_dice:.4f}",
        duration(run.elapsed_s),
        duration(run.eta_s),
        yes_no(run.collapsed),
        finished,
    ]


def status_text(results: str | Path) -> str:
    """The whole ``segmamba status`` report of a results folder."""
    results = Path(results)
    runs = find_runs(results)
    lines = []
    if runs:
        rows = [list(COLUMNS)] + [run_cells(run) for run in runs]
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        lines += [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
        ]
    else:
        lines.append(f"no training runs under {results} (no {'train_config.yaml'})")
    lines.append("")
    lines.append("tables and figures:")
    for dataset, files in dataset_tables(results, result_datasets(results, runs)).items():
        lines.append(f"  {dataset}: {', '.join(files) if files else 'none yet'}")
    return "\n".join(lines)
