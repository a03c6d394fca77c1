"""A training records the fingerprint of its data, and a changed split or preprocessing is never resumed."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from tiny_training import make_dataset, settings, train

from segmamba.data.fingerprint import (
    canonical_hash,
    data_fingerprint,
    fingerprint_differences,
    read_data_fingerprint,
)
from segmamba.data.split import make_split
from segmamba.errors import ConfigError
from segmamba.models import checkpoint as model_checkpoint
from segmamba.train import checkpoint as ckpt


def test_fingerprint_differences_name_what_changed():
    split = make_split([f"c{i}" for i in range(10)], seed=42)
    dataset_json = {"target_spacing": [1.0, 1.0, 1.0], "regions": {"a": [1]}}
    base = data_fingerprint(split, dataset_json)
    assert fingerprint_differences(base, data_fingerprint(dict(split), dict(dataset_json))) == []
    reseeded = data_fingerprint(make_split([f"c{i}" for i in range(10)], seed=7), dataset_json)
    assert fingerprint_differences(base, reseeded) == ["split seed 42 -> 7"]
    more_cases = data_fingerprint(make_split([f"c{i}" for i in range(11)], seed=42), dataset_json)
    assert fingerprint_differences(base, more_cases) == ["split case list changed"]
    swapped = data_fingerprint({**split, "train": split["val"], "val": split["train"]}, dataset_json)
    assert fingerprint_differences(base, swapped) == ["split train/val/test lists changed"]
    respaced = data_fingerprint(split, {**dataset_json, "target_spacing": [2.0, 1.0, 1.0]})
    assert fingerprint_differences(base, respaced)[0].startswith("preprocessing (dataset.json")
    assert fingerprint_differences(base, respaced, ("split",)) == []
    assert fingerprint_differences(None, base) == ["no data fingerprint recorded (written by an older version)"]
    # key order does not matter; the value does (independent check with the standard library)
    assert canonical_hash({"b": 1, "a": [2]}) == canonical_hash({"a": [2], "b": 1})
    assert canonical_hash({"a": 1}) == hashlib.sha256(b'{"a":1}').hexdigest()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = make_dataset(tmp_path_factory.mktemp("fingerprint"))
    out = root / "run"
    assert train(settings(root, out, epochs=1)) == 0
    return root, out


def test_every_training_output_records_the_data_fingerprint(trained):
    root, out = trained
    expected = read_data_fingerprint(root / "split.json", root / "pre")
    assert expected["split"]["seed"] == 42
    for name in (ckpt.LATEST, ckpt.BEST, ckpt.FINAL):
        assert model_checkpoint.read_checkpoint(out / name)["data_fingerprint"] == expected
    assert json.loads((out / "train_summary.json").read_text())["data_fingerprint"] == expected


def test_a_changed_split_stops_by_hand_and_supersedes_with_restart_on_change(trained, tmp_path):
    root, run = trained
    data = tmp_path / "data"
    shutil.copytree(root / "pre", data / "pre")
    split = json.loads((root / "split.json").read_text())
    resplit = make_split(split["train"] + split["val"] + split["test"], seed=7)
    (data / "split.json").write_text(json.dumps(resplit))
    out = tmp_path / "run"
    shutil.copytree(run, out)
    with pytest.raises(
        ConfigError,
        match=r"checkpoint_latest.pt belongs to a run with other settings or data "
        r"\(data: split seed 42 -> 7\); pass --restart-on-change",
    ):
        train(settings(data, out, epochs=1))
    assert train(settings(data, out, epochs=1, restart_on_change=True)) == 0
    (superseded,) = out.glob("superseded-*")
    assert model_checkpoint.read_checkpoint(superseded / ckpt.LATEST)["data_fingerprint"]["split"]["seed"] == 42
    assert model_checkpoint.read_checkpoint(out / ckpt.FINAL)["data_fingerprint"]["split"]["seed"] == 7
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["train_cases"] == len(resplit["train"]) and summary["data_fingerprint"]["split"]["seed"] == 7
