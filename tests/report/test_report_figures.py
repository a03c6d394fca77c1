"""Figure functions: slice choice, files written, inputs checked."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from segmamba.data.dataset_file import resolve_dataset_file
from segmamba.report import build, figures

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_largest_cross_section_picks_the_fullest_slice():
    label = np.zeros((8, 8, 6), dtype=np.int16)
    label[2:4, 2:4, 1] = 1  # 4 voxels
    label[1:6, 1:6, 4] = 2  # 25 voxels
    assert figures.largest_cross_section(label) == (4, 25)
    # along x: x = 2 and x = 3 both cut 2 voxels of the first block and 5 of the second; ties go to the lower
    assert figures.largest_cross_section(label, axis=0) == (2, 7)
    assert figures.largest_cross_section(np.zeros((4, 4, 6))) == (3, 0)  # empty: the middle slice


def test_case_and_slice_with_the_largest_cross_section_not_the_largest_volume():
    tube = np.zeros((10, 10, 12), dtype=np.int16)
    tube[4:6, 4:6, 1:11] = 1  # 40 voxels, cross-sections of 4
    disc = np.zeros((10, 10, 12), dtype=np.int16)
    disc[2:7, 2:7, 7] = 3  # 25 voxels in one slice
    disc[3:5, 3:5, 8] = 1  # 4 more on the next
    empty = np.zeros((10, 10, 12), dtype=np.int16)
    assert figures.choose_case_and_slice([("a", empty), ("b", tube), ("c", disc)]) == ("c", 7)
    assert figures.choose_case_and_slice([("a", empty), ("b", empty)]) == ("a", 6)
    with pytest.raises(ValueError, match="no label maps"):
        figures.choose_case_and_slice([])


def test_visual_comparison_writes_png_and_rejects_shape_mismatch(tmp_path):
    image = np.random.default_rng(0).normal(size=(16, 16, 8)).astype(np.float32)
    gt = np.zeros((16, 16, 8), dtype=np.int16)
    gt[4:10, 4:10, 5] = 1
    out = tmp_path / "fig4.png"
    shown = figures.plot_visual_comparison(
        image, gt, {"A": gt, "B": np.zeros_like(gt)}, out, "test", label_names={0: "background", 1: "tumour"}
    )
    assert shown == 5
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    with pytest.raises(ValueError, match="shape"):
        figures.plot_visual_comparison(image, gt, {"A": gt[:, :, :4]}, tmp_path / "bad.png", "test")


def test_training_curves_and_efficiency_chart_write_png(tmp_path):
    log = pd.DataFrame({"epoch": [1, 2, 3], "loss": [1.0, 0.6, 0.4], "val_dice": [math.nan, 0.5, 0.7]})
    figures.plot_training_curves({"SegMamba": log}, tmp_path / "curves.png", "test")
    assert (tmp_path / "curves.png").read_bytes()[:8] == PNG_SIGNATURE
    records = [
        {"model": "segmamba", "size": 32, "tm": 10.0, "im": 5.0, "it": 2.0, "status": "ok"},
        {"model": "segmamba_m6", "size": 32, "tm": math.nan, "im": math.nan, "it": math.nan, "status": "OOM"},
    ]
    figures.plot_efficiency(records, tmp_path / "eff.png", "test")
    assert (tmp_path / "eff.png").read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.parametrize(("names", "index"), [(("t2w", "t2f", "t1n", "t1c"), 1), (("CT",), 0), (("a", "b"), 0)])
def test_figure4_shows_flair_for_brats_and_the_only_channel_otherwise(names, index):
    assert build.choose_channel(names) == index


@pytest.mark.parametrize(("name", "layout", "title"), [("mycrc", "crc500", "mycrc"), ("crc500", "crc500", "CRC-500")])
def test_figure4_is_titled_with_the_datasets_name_and_read_with_its_layout(tmp_path, monkeypatch, name, layout, title):
    """A dataset of your own in a paper layout is read with that layout's reader but shown under its own name."""
    from segmamba.data.synth import write_synthetic_dataset

    root = tmp_path / "raw"
    cases = write_synthetic_dataset("crc", root, cases=2, size=16, seed=0)
    (tmp_path / "split.json").write_text(json.dumps({"train": [], "val": [], "test": cases}))
    shown = {}

    def capture(image, ground_truth, predictions, out_path, title, **options):
        shown.update(title=title, predictions=list(predictions), shape=image.shape)

    monkeypatch.setattr(figures, "plot_visual_comparison", capture)
    labels = str(root / "labelsTr")  # the ground truth itself as the "prediction"
    entry = {"format": layout, "root": str(root)}
    resolve_dataset_file(name, entry, root).write(tmp_path / "dataset.json")
    figure_inputs = (str(tmp_path / "split.json"), labels, {"segmamba": labels}, "f.png")
    build.make_figure4(str(tmp_path / "dataset.json"), *figure_inputs)
    assert shown["title"].startswith(f"{title}: case CRC_00") and shown["title"].endswith(", CT")
    assert shown["predictions"] == ["SegMamba"] and shown["shape"] == (16, 16, 16)
