"""Provenance (docs/provenance.md): after a ``split.seed`` change the workflow retrains the model (it does not
resume the finished one), and no test case of the table is a training case of the model that predicted it."""

from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest
import yaml
from workflow_helpers import copy_workflow, run_snakemake

from segmamba.models.checkpoint import read_checkpoint

pytestmark = pytest.mark.slow

NAME = "mine"


def write_tiny_dataset(root, cases: int = 10, size: int = 16) -> None:
    """A tiny nnU-Net raw CT dataset: a noisy cube of label 1 per case."""
    rng = np.random.default_rng(0)
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for index in range(cases):
        label = np.zeros((size,) * 3, np.uint8)
        x, y, z = rng.integers(4, size - 4, 3)
        label[x - 3 : x + 3, y - 3 : y + 3, z - 3 : z + 3] = 1
        image = rng.normal(0, 1, label.shape).astype(np.float32) + 3 * label + 1
        nib.save(nib.Nifti1Image(image, np.eye(4)), str(root / "imagesTr" / f"case_{index:03d}_0000.nii.gz"))
        nib.save(nib.Nifti1Image(label, np.eye(4)), str(root / "labelsTr" / f"case_{index:03d}.nii.gz"))
    meta = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "tumour": 1}, "numTraining": cases}
    (root / "dataset.json").write_text(json.dumps({**meta, "file_ending": ".nii.gz"}))


def config(root, seed: int) -> dict:
    """Only the tiny dataset and one narrow model, 3 epochs x 4 iterations on 16^3 patches."""
    return {
        "datasets": {
            "brats2023": {"activate": False},
            "aiib2023": {"activate": False},
            "crc500": {"activate": False},
            NAME: {"activate": True, "format": "nnunet", "root": str(root)},
        },
        "models": ["segresnet"],
        "split": {"seed": seed},
        "ablation": {"activate": False},
        "efficiency": {"activate": False},
        "scales": {
            "demo": {
                "train": {
                    "epochs": 3,
                    "iters_per_epoch": 4,
                    "patch_size": [16, 16, 16],
                    "batch_size": 1,
                    "val_every": 1,
                    "max_val_cases": 1,
                    "num_workers": 0,
                },
                "predict": {"tta": False, "overlap": 0.25, "sw_batch_size": 1},
                "model_overrides": {"segresnet": {"init_filters": 8}},
            }
        },
    }


def run(workdir, base, seed: int) -> None:
    path = base / f"seed{seed}.yaml"
    path.write_text(yaml.safe_dump(config(base / "raw", seed)))
    result = run_snakemake(workdir, "--cores", "1", "--configfile", str(path), timeout=900)
    logs = "\n".join(f"--- {p}\n{p.read_text()[-1500:]}" for p in (workdir / "results/logs").rglob("*.log"))
    assert result.returncode == 0, result.stderr[-4000:] + logs


def test_a_changed_split_seed_retrains_and_no_test_case_was_trained_on(tmp_path):
    write_tiny_dataset(tmp_path / "raw")
    workdir = copy_workflow(tmp_path / "wf")
    results = workdir / "results" / NAME
    run(workdir, tmp_path, 42)
    old_split = json.loads((results / "split.json").read_text())
    run(workdir, tmp_path, 7)
    new_split = json.loads((results / "split.json").read_text())
    assert set(new_split["test"]) & set(old_split["train"])  # the old model would leak test cases it trained on

    log = (workdir / f"results/logs/train/{NAME}/segresnet.log").read_text()
    assert "resumed" not in log and "data: split seed 42 -> 7" in log  # retrained, not resumed
    run_dir = results / "models/segresnet"
    (superseded,) = run_dir.glob("superseded-*")  # the old run is kept
    assert read_checkpoint(superseded / "checkpoint_latest.pt")["data_fingerprint"]["split"]["seed"] == 42

    model_fingerprint = read_checkpoint(run_dir / "checkpoint_final.pt")["data_fingerprint"]
    assert model_fingerprint["split"]["seed"] == 7
    summary = json.loads((results / "metrics/segresnet.summary.json").read_text())
    assert summary["data_fingerprint"] == model_fingerprint
    model_train_cases = set(new_split["train"])  # the split whose fingerprint the model records
    scored = {row["case"] for row in csv.DictReader(open(results / "metrics/segresnet.csv", newline=""))}
    assert scored == set(new_split["test"]) and not scored & model_train_cases
    assert (workdir / f"results/tables/{NAME}.md").is_file()
