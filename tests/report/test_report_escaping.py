"""Label names with Markdown, LaTeX and mathtext specials in every output format."""

from __future__ import annotations

import io
import json
import math
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from segmamba.data.dataset_config import resolve_dataset
from segmamba.report import figures, render, tables

NAMES = ["a|b", "cost $5", "x_y & z%#", "back\\slash", "caret^~{}"]
CASES = [f"c{i}" for i in range(6)]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def tidy(tmp_path) -> pd.DataFrame:
    """The table of a dataset of your own whose label names hold specials, SegMamba and UX-Net."""
    labels = {"background": 0, **{name: value for value, name in enumerate(NAMES, start=1)}}
    (tmp_path / "dataset.json").write_text(json.dumps({"channel_names": {"0": "CT"}, "labels": labels}))
    definition = resolve_dataset("mydata", {"format": "nnunet", "root": str(tmp_path)})
    rng = np.random.default_rng(0)
    metrics = {
        model: pd.DataFrame({c: rng.uniform(0.2, 0.9, len(CASES)) for c in definition.metric_columns()}, index=CASES)
        for model in ("segmamba", "uxnet")
    }
    return tables.build_dataset_table(definition, metrics, synthetic=False)


def test_markdown_cells_escape_the_pipe(tidy):
    markdown = render.render_markdown(tidy, "mydata", [])
    blocks = [block.splitlines() for block in markdown.split("\n\n") if block.startswith("|")]
    assert blocks
    for lines in blocks:  # every row of a table has as many cells as its header: no "|" of a name splits a cell
        assert len({len(re.findall(r"(?<!\\)\|", line.replace("\\\\", ""))) for line in lines}) == 1
    lines = [line for block in blocks for line in block]
    header = " ".join(line for line in lines if line.startswith("| Method"))
    assert r"a\|b Dice (%)" in header and r"back\\slash Dice (%)" in header and "cost $5 Dice (%)" in header


def test_latex_escapes_every_special(tidy):
    latex = render.render_latex(tidy, "mydata", [], "mydata")
    header = next(line for line in latex.splitlines() if line.startswith("Method &"))
    for escaped in (
        r"a\textbar{}b",
        r"cost \$5",
        r"x\_y \& z\%\#",
        r"back\textbackslash{}slash",
        r"caret\textasciicircum{}\textasciitilde{}\{\}",
    ):
        assert escaped in header
    cells = header.split(" & ")  # one more cell than the table has columns would be an unescaped "&"
    assert len(cells) == 1 + len(render.table_columns(tidy))


def test_latex_escape_of_each_character():
    assert render.latex_escape("a|b~c^d") == r"a\textbar{}b\textasciitilde{}c\textasciicircum{}d"
    assert render.latex_escape("$_&%#{}\\") == r"\$\_\&\%\#\{\}\textbackslash{}"


def test_matplotlib_draws_dollars_literally():
    name = r"cost $\frac{$ 5"  # between the two dollars mathtext would parse an unbalanced \frac and fail
    figure, ax = plt.subplots()
    ax.set_title(name)
    with pytest.raises(ValueError):
        figure.savefig(io.BytesIO(), format="png")  # the unescaped text is parsed and fails
    plt.close(figure)
    assert figures.plain_text(name) == r"cost \$\frac{\$ 5"


def test_figures_with_dollar_names_render(tmp_path):
    name = r"$\frac{$ net"
    log = pd.DataFrame({"epoch": [1, 2], "loss": [1.0, 0.5], "val_dice": [math.nan, 0.6]})
    figures.plot_training_curves({name: log}, tmp_path / "curves.png", f"Training on {name}")
    image = np.zeros((8, 8, 4), dtype=np.float32)
    label = np.zeros((8, 8, 4), dtype=np.int16)
    label[2:5, 2:5, 1] = 1
    figures.plot_visual_comparison(image, label, {name: label}, tmp_path / "fig4.png", name, label_names={1: name})
    summary = pd.DataFrame({"mean_rank": [1.0], "median_rank": [1.0], "rank_low": [1], "rank_high": [1]}, [name])
    figures.plot_rank_blobs(pd.DataFrame({1: [1.0]}, index=[name]), summary, tmp_path / "blobs.png", name)
    for png in ("curves", "fig4", "blobs"):
        assert (tmp_path / f"{png}.png").read_bytes()[:8] == PNG_SIGNATURE
