"""Paths in the workflow's shell commands are quoted: a dataset root holding a space, a quote and ``$(...)``
runs through check, split and preprocess, and the shell runs nothing embedded in the path."""

from __future__ import annotations

import json
import re

import nibabel as nib
import numpy as np
import pytest
import yaml
from workflow_helpers import REPO, copy_workflow, run_snakemake

pytestmark = pytest.mark.slow

MARKER = "INJECTED"
#: A folder name a shell would split at the space, end at the quote and run `touch` from.
HOSTILE_FOLDER = f"it's a data set $(touch {MARKER})"


def write_small_nnunet_dataset(root, cases: int = 4, size: int = 16) -> None:
    """``cases`` one-channel 16³ cases, each with a cube of label 1 (enough for a 2/0/2 split)."""
    rng = np.random.default_rng(3)
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for index in range(cases):
        label = np.zeros((size,) * 3, np.uint8)
        label[4:10, 5:11, 3:9] = 1
        image = (rng.normal(0, 1, label.shape) + 3 * label + 1).astype(np.float32)
        nib.save(nib.Nifti1Image(image, np.eye(4)), str(root / "imagesTr" / f"case_{index:03d}_0000.nii.gz"))
        nib.save(nib.Nifti1Image(label, np.eye(4)), str(root / "labelsTr" / f"case_{index:03d}.nii.gz"))
    meta = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "tumour": 1}, "numTraining": cases}
    (root / "dataset.json").write_text(json.dumps({**meta, "file_ending": ".nii.gz"}))


def test_every_shell_path_placeholder_is_quoted():
    """Every {input.*}, {output.*}, {log} and path param in a shell: string carries Snakemake's :q."""
    files = [REPO / "Snakefile", *sorted((REPO / "workflow/rules").glob("*.smk"))]
    unquoted = [
        f"{path.name}: {m.group(0)}"
        for path in files
        for m in re.finditer(r"\{(input|output|log|params\.run_dir)(\.\w+)?\}", path.read_text())
    ]
    assert unquoted == []


def test_a_root_with_a_space_quote_and_command_substitution_runs_and_executes_nothing(tmp_path):
    root = tmp_path / HOSTILE_FOLDER / "raw"
    write_small_nnunet_dataset(root)
    workdir = copy_workflow(tmp_path / "wf")
    config = {
        "datasets": {
            "brats2023": {"activate": False},
            "aiib2023": {"activate": False},
            "crc500": {"activate": False},
            "mine": {"activate": True, "format": "nnunet", "root": str(root)},
        },
        "models": ["segresnet"],
        "ablation": {"activate": False},
        "efficiency": {"activate": False},
    }
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(config))
    targets = ["results/mine/check.txt", "results/mine/split.json", "results/mine/preprocessed"]
    result = run_snakemake(workdir, *targets, "--cores", "1", "--configfile", str(tmp_path / "mine.yaml"))
    logs = "\n".join(p.read_text() for p in (workdir / "results/logs").rglob("*.log"))
    assert result.returncode == 0, result.stderr[-3000:] + logs
    assert not list(tmp_path.rglob(MARKER)) and not (REPO / MARKER).exists()
    assert (workdir / "results/mine/check.txt").read_text().startswith("mine: 4 cases OK;")
    split = json.loads((workdir / "results/mine/split.json").read_text())
    assert split["num_cases"] == 4
    assert (workdir / "results/mine/preprocessed/dataset.json").is_file()
