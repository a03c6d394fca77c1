"""The figures: Fig. 4-style visual comparison, training curves, an efficiency chart, and the rank-stability
blob plot and pairwise significance map of a dataset.

Functions take arrays and frames (not file paths) where they can, so they are testable without a workflow
run; ``segmamba report`` (``segmamba.report.build``) reads the files and calls them. Every text that comes
from the data (method, dataset, label names) passes through ``plain_text``, so that a ``$`` in it is drawn as
a dollar sign rather than starting matplotlib's mathtext.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from segmamba.io_utils import atomic_path  # noqa: E402

#: Colours of the significance map: not significantly better, significantly better.
SIGNIFICANCE_COLOURS = ["#f0f0f0", "#2b8cbe"]

#: Overlay colours per label value 1..; label 0 (background) stays transparent.
LABEL_COLOURS = ["#e41a1c", "#4daf4a", "#ffd92f", "#377eb8", "#984ea3", "#ff7f00"]


def plain_text(text) -> str:
    """``text`` for matplotlib with ``$`` escaped, so that it is drawn literally and never parsed as mathtext."""
    return str(text).replace("$", r"\$")


def largest_cross_section(label: np.ndarray, axis: int = 2) -> tuple[int, int]:
    """(index, voxels) of the slice along ``axis`` with the largest foreground (label > 0) cross-section.

    Ties go to the lowest index; a label map without foreground gives (its middle slice, 0).
    """
    if label.ndim != 3:
        raise ValueError(f"expected a 3D label map, got shape {label.shape}")
    counts = (label > 0).sum(axis=tuple(a for a in range(3) if a != axis))
    if counts.max() == 0:
        return label.shape[axis] // 2, 0
    index = int(np.argmax(counts))
    return index, int(counts[index])


def choose_case_and_slice(labels: Iterable[tuple[str, np.ndarray]], axis: int = 2) -> tuple[str, int]:
    """The case and slice with the largest ground-truth foreground cross-section among ``(case, label)`` pairs.

    Ties go to the first case; when no case has foreground, the first case's middle slice. The label maps are
    consumed one at a time (a generator keeps one in memory).

    Raises:
        ValueError: ``labels`` is empty.
    """
    best = None
    for case, label in labels:
        index, area = largest_cross_section(label, axis)
        if best is None or area > best[2]:
            best = (case, index, area)
    if best is None:
        raise ValueError("no label maps to choose a slice from")
    return best[0], best[1]


def _overlay(ax, image_slice: np.ndarray, label_slice: np.ndarray | None, title: str) -> None:
    """Draw a grey image slice (rotated to radiological display) with a coloured label overlay."""
    ax.imshow(np.rot90(image_slice), cmap="gray", interpolation="nearest")
    if label_slice is not None:
        label_slice = np.rot90(label_slice.astype(int))
        masked = np.ma.masked_where(label_slice == 0, label_slice)
        colours = ListedColormap(LABEL_COLOURS)
        ax.imshow(masked, cmap=colours, vmin=1, vmax=len(LABEL_COLOURS), alpha=0.55, interpolation="nearest")
    ax.set_title(plain_text(title), fontsize=8)
    ax.axis("off")


def plot_visual_comparison(
    image: np.ndarray,
    ground_truth: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    out_path: str | os.PathLike,
    title: str,
    slice_index: int | None = None,
    label_names: Mapping[int, str] | None = None,
) -> int:
    """Fig. 4 style: one axial slice of the image, the ground truth and each method's prediction as overlays.

    Args:
        image: one image channel, shape (X, Y, Z).
        ground_truth: label map (X, Y, Z).
        predictions: method display name -> label map (X, Y, Z), in panel order.
        out_path: PNG to write (atomically).
        title: figure title.
        slice_index: slice along Z to show; default the largest ground-truth foreground cross-section.
        label_names: optional {label value: name} for a colour legend (background 0 is skipped).

    Returns:
        The slice index shown.
    """
    for name, volume in [("ground truth", ground_truth), *predictions.items()]:
        if volume.shape != image.shape:
            raise ValueError(f"{name} has shape {volume.shape}, the image {image.shape}")
    index = largest_cross_section(ground_truth)[0] if slice_index is None else slice_index
    panels = [("Image", None), ("Ground truth", ground_truth), *predictions.items()]
    figure, axes = plt.subplots(1, len(panels), figsize=(1.9 * len(panels), 2.3), squeeze=False)
    for ax, (name, label) in zip(axes[0], panels, strict=True):
        _overlay(ax, image[:, :, index], None if label is None else label[:, :, index], name)
    figure.suptitle(plain_text(f"{title} (slice z={index})"), fontsize=9)
    if label_names:
        handles = [
            Patch(color=LABEL_COLOURS[(value - 1) % len(LABEL_COLOURS)], label=plain_text(name))
            for value, name in sorted(label_names.items())
            if value > 0
        ]
        figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    figure.tight_layout(rect=(0, 0.08 if label_names else 0, 1, 1))
    _save(figure, out_path)
    return index


def plot_training_curves(logs: Mapping[str, pd.DataFrame], out_path: str | os.PathLike, title: str) -> None:
    """Training loss and validation Dice per epoch, one line per model.

    Args:
        logs: model display name -> ``train_log.csv`` frame (columns ``epoch``, ``loss``, ``val_dice``).
        out_path: PNG to write (atomically).
        title: figure title.
    """
    figure, (loss_ax, dice_ax) = plt.subplots(1, 2, figsize=(9, 3.4))
    for name, log in logs.items():
        loss_ax.plot(log["epoch"], log["loss"], label=plain_text(name), marker=".")
        validated = log.dropna(subset=["val_dice"])
        dice_ax.plot(validated["epoch"], validated["val_dice"], label=plain_text(name), marker=".")
    loss_ax.set(xlabel="epoch", ylabel="training loss", title="Loss")
    dice_ax.set(xlabel="epoch", ylabel="validation Dice", title="Validation Dice", ylim=(0, 1))
    dice_ax.legend(fontsize=7, loc="lower right")
    figure.suptitle(plain_text(title), fontsize=10)
    figure.tight_layout()
    _save(figure, out_path)


def plot_efficiency(records: Sequence[Mapping], out_path: str | os.PathLike, title: str) -> None:
    """Bar charts of training memory, inference memory and inference throughput per model and input size.

    Args:
        records: ``segmamba.report.efficiency_table.read_efficiency`` results (keys model, size, tm, im, it, status);
            out-of-memory runs are drawn as an "OOM" label instead of a bar.
        out_path: PNG to write (atomically).
        title: figure title.
    """
    from segmamba.report.paper import method_label

    labels = [
        plain_text(f"{method_label(r['model'])}\n{r['size']}³" + (f"\n{r['variant']}" if r.get("variant") else ""))
        for r in records
    ]
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for ax, (key, heading) in zip(
        axes,
        [("tm", "Training memory (MB)"), ("im", "Inference memory (MB)"), ("it", "Inference throughput (cases/s)")],
        strict=True,
    ):
        values = [r[key] for r in records]
        heights = [0.0 if math.isnan(v) else v for v in values]
        ax.bar(range(len(records)), heights, color="#377eb8")
        for position, (value, record) in enumerate(zip(values, records, strict=True)):
            if math.isnan(value):
                ax.text(
                    position,
                    0,
                    "OOM" if record["status"] == "OOM" else "n/a",
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    color="#e41a1c",
                )
        ax.set_xticks(range(len(records)), labels, fontsize=7)
        ax.set_title(heading, fontsize=9)
    figure.suptitle(plain_text(title), fontsize=10)
    figure.tight_layout()
    _save(figure, out_path)


def plot_rank_blobs(frequencies: pd.DataFrame, summary: pd.DataFrame, out_path: str | os.PathLike, title: str) -> None:
    """challengeR-style blob plot: x = method, y = rank, blob area = how often the method has that rank across
    the bootstrap resamples; the median rank (x) and the 95% rank interval (line) marked.

    Args:
        frequencies: methods (display names) x ranks 1..k, fractions of resamples
            (``segmamba.report.rank_stability.rank_frequencies``).
        summary: indexed by the same names, with ``mean_rank``, ``median_rank``, ``rank_low``, ``rank_high``
            (``rank_summary``); the methods are shown by increasing mean rank.
        out_path: PNG to write (atomically).
        title: figure title.
    """
    order = list(summary.sort_values("mean_rank", kind="stable").index)
    k = len(order)
    figure, ax = plt.subplots(figsize=(max(4.0, 0.8 * k + 1.5), max(3.0, 0.4 * k + 1.5)))
    for x, method in enumerate(order):
        shown = frequencies.loc[method][frequencies.loc[method] > 0]
        ax.scatter([x] * len(shown), shown.index, s=500 * shown.to_numpy(), color="#2b8cbe", alpha=0.6, lw=0)
        ax.vlines(x, summary.loc[method, "rank_low"], summary.loc[method, "rank_high"], color="black", lw=1)
        ax.plot(x, summary.loc[method, "median_rank"], marker="x", color="black", ms=7)
    ax.set_xticks(range(k), [plain_text(method) for method in order], rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(1, k + 1))
    ax.set_ylim(k + 0.6, 0.4)
    ax.set(xlabel="method", ylabel="rank (1 = best)")
    ax.set_title(plain_text(title), fontsize=9)
    figure.tight_layout()
    _save(figure, out_path)


def plot_significance_map(pairs: pd.DataFrame, order: Sequence[str], out_path: str | os.PathLike, title: str) -> None:
    """Touchstone-style pairwise significance map: cell (row, column) is filled when the row's method is
    significantly better than the column's (Holm-adjusted paired Wilcoxon), and shows the adjusted p-value.

    Args:
        pairs: ``segmamba.report.rank_stability.pairwise_tests`` with display names in ``method``/``other``.
        order: the methods (display names) in row and column order.
        out_path: PNG to write (atomically).
        title: figure title.
    """
    k = len(order)
    position = {method: index for index, method in enumerate(order)}
    better = np.full((k, k), np.nan)
    figure, ax = plt.subplots(figsize=(max(4.0, 0.75 * k + 2), max(3.5, 0.6 * k + 1.8)))
    for row in pairs.itertuples():
        i, j = position[row.method], position[row.other]
        better[i, j] = float(row.significantly_better)
        text = "n/a" if np.isnan(row.p_holm) else ("<0.001" if row.p_holm < 0.001 else f"{row.p_holm:.3f}")
        colour = "white" if row.significantly_better else "black"
        ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
    ax.imshow(np.ma.masked_invalid(better), cmap=ListedColormap(SIGNIFICANCE_COLOURS), vmin=0, vmax=1)
    names = [plain_text(method) for method in order]
    ax.set_xticks(range(k), names, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set(xlabel="compared with", ylabel="method")
    handles = [Patch(color=SIGNIFICANCE_COLOURS[1], label="row significantly better (Holm-adjusted p < 0.05)")]
    figure.legend(handles=handles, loc="lower center", fontsize=7, frameon=False)
    ax.set_title(plain_text(title), fontsize=9)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    _save(figure, out_path)


def _save(figure, out_path: str | os.PathLike) -> None:
    """Save a matplotlib figure as PNG atomically and close it."""
    with atomic_path(out_path) as tmp:
        figure.savefig(tmp, dpi=120, format="png")
    plt.close(figure)
