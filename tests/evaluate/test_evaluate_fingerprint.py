"""Evaluation refuses predictions made by a model of another split, and records their data fingerprint."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from segmamba.data.fingerprint import split_fingerprint
from segmamba.data.split import write_split
from segmamba.errors import InputError
from segmamba.evaluate.evaluate import run_evaluation
from segmamba.report.provenance import check_same_split


@pytest.fixture
def folders(tmp_path):
    """One CRC-like case: a ground-truth and an identical predicted label map, and a 10-case split."""
    labels = np.zeros((8, 8, 8), np.uint8)
    labels[2:5, 2:5, 2:5] = 1
    for folder in ("gt", "pred"):
        (tmp_path / folder).mkdir()
        nib.save(nib.Nifti1Image(labels, np.eye(4)), tmp_path / folder / "case_000.nii.gz")
    split = write_split(tmp_path / "split.json", [f"case_{i:03d}" for i in range(10)], seed=42)
    return tmp_path, split


def write_provenance(folder, split: dict) -> None:
    fingerprint = {"split": split_fingerprint(split), "preprocessing": "0" * 64}
    (folder / "provenance.json").write_text(json.dumps({"checkpoint": "model.pt", "data_fingerprint": fingerprint}))


def test_evaluation_records_the_fingerprint_of_predictions_of_the_split(folders):
    root, split = folders
    write_provenance(root / "pred", split)
    run_evaluation("crc500", root / "pred", root / "gt", root / "m.csv", split=root / "split.json")
    summary = json.loads((root / "m.summary.json").read_text())
    assert summary["data_fingerprint"]["split"]["seed"] == 42
    assert summary["metrics"]["dice"]["mean"] == 1.0


def test_evaluation_refuses_predictions_of_a_model_of_another_split(folders):
    root, split = folders
    write_provenance(root / "pred", {**split, "seed": 7, "train": split["val"], "val": split["train"]})
    with pytest.raises(InputError, match=r"pred were not made by a model of split .*split seed 7 -> 42"):
        run_evaluation("crc500", root / "pred", root / "gt", root / "m.csv", split=root / "split.json")
    (root / "pred" / "provenance.json").unlink()  # predictions of unknown origin: refused against a split
    with pytest.raises(InputError, match="no data fingerprint recorded"):
        run_evaluation("crc500", root / "pred", root / "gt", root / "m.csv", split=root / "split.json")
    assert not (root / "m.csv").exists()
    run_evaluation("crc500", root / "pred", root / "gt", root / "m.csv")  # by hand without --split: scored
    assert json.loads((root / "m.summary.json").read_text())["data_fingerprint"] is None


def test_report_refuses_metrics_summaries_of_different_splits(tmp_path):
    def summary(name: str, seed: int | None) -> str:
        fingerprint = None if seed is None else {"split": {"seed": seed, "case_list_hash": "h", "subsets_hash": "s"}}
        path = tmp_path / f"{name}.summary.json"
        path.write_text(json.dumps({"metrics": {}, "data_fingerprint": fingerprint}))
        return str(path)

    same = {"a": summary("a", 42), "b": summary("b", 42), "old": summary("old", None), "absent": None}
    check_same_split(same)  # equal fingerprints; unrecorded and absent ones are not compared
    with pytest.raises(InputError, match=r"different splits \(seed 42: .*a.summary.json.*; seed 7: .*c.summary"):
        check_same_split({**same, "c": summary("c", 7)})
