"""Portable model bundles: ``segmamba export`` of a run folder predicts from elsewhere after the run folder is
gone, and ``segmamba import-published`` wraps a published-layout SegMamba state dict."""

from __future__ import annotations

import io
import json
import shutil
import zipfile

import numpy as np
import pytest
import torch
from model_fixtures import make_run_folder, toy_volume, write_itk_case, write_nifti_case

from segmamba.cli import main
from segmamba.models import build_model

SMALL_SEGMAMBA = {"feat_size": [4, 8, 8, 16], "hidden_size": 16, "depths": [1, 1, 1, 1]}


def bundle_parts(path):
    """(manifest, state dict) of a bundle, read with the standard library and torch.load(weights_only=True)."""
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("bundle.json"))
        weights = torch.load(io.BytesIO(archive.read("weights.pt")), weights_only=True)
    return manifest, weights


def test_an_exported_bundle_predicts_from_another_folder_without_the_run(tmp_path, monkeypatch):
    run = make_run_folder(tmp_path / "train", "run", seed=0, data_fingerprint={"sha256": "abc123"})
    (run / "train_summary.json").write_text(
        json.dumps({"scan_backend": None, "best_val_dice": 0.5, "collapsed": False})
    )
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_nifti_case(inputs, "c1", toy_volume(0), (0.8, 1.1, 2.0), origin=(-3.0, 4.0, 5.0))
    write_itk_case(inputs, "c2", toy_volume(1), (1.0, 0.9, 1.6), origin=(1.0, 2.0, 3.0), suffix=".mha")
    assert main(["predict", "--model", str(run), "-i", str(inputs), "-o", str(tmp_path / "direct"), "--device", "cpu",
                 "--no-tta", "--save-probabilities"]) == 0  # fmt: skip
    trained = torch.load(run / "checkpoint_final.pt", weights_only=True)["state_dict"]

    assert main(["export", str(run), str(tmp_path / "made" / "model.zip")]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(tmp_path / "made" / "model.zip", elsewhere / "model.zip")
    shutil.rmtree(tmp_path / "train")  # the run folder and its preprocessed data are gone
    monkeypatch.chdir(elsewhere)
    assert main(["predict", "--model", "model.zip", "-i", str(inputs), "-o", "out", "--device", "cpu", "--no-tta",
                 "--save-probabilities"]) == 0  # fmt: skip

    for case in ("c1", "c2"):
        np.testing.assert_array_equal(
            np.load(elsewhere / "out" / f"{case}.npz")["probabilities"],
            np.load(tmp_path / "direct" / f"{case}.npz")["probabilities"],
        )
    manifest, weights = bundle_parts(elsewhere / "model.zip")
    assert weights.keys() == trained.keys() and all(torch.equal(weights[k], trained[k]) for k in trained)
    assert manifest["model"]["name"] == "segresnet" and manifest["model"]["overrides"]["init_filters"] == 8
    assert manifest["dataset"]["channel_names"] == ["t1", "t2"]
    assert manifest["preprocessing"]["target_spacing"] == [1.0, 1.0, 1.0]
    assert "case_ids" not in manifest["preprocessing"] and "statistics_case_ids" not in manifest["preprocessing"]
    assert manifest["training"]["settings"]["seed"] == 0 and manifest["training"]["best_val_dice"] == 0.5
    assert manifest["data_fingerprint"] == {"sha256": "abc123"}
    assert manifest["package_version"] and "scan_backend" in manifest


def test_export_refuses_a_run_folder_without_a_finished_checkpoint(tmp_path, capsys):
    run = make_run_folder(tmp_path, "run", seed=0)
    (run / "checkpoint_final.pt").rename(run / "checkpoint_latest.pt")
    assert main(["export", str(run), str(tmp_path / "model.zip")]) == 2
    assert "has no finished checkpoint checkpoint_final.pt" in capsys.readouterr().err
    assert not (tmp_path / "model.zip").exists()


def test_import_published_wraps_a_published_layout_state_dict_with_brats_preprocessing(tmp_path, capsys):
    torch.manual_seed(0)
    published = build_model("segmamba", 4, 4, patch_size=(32, 32, 32), **SMALL_SEGMAMBA)
    released = {f"module.{k}": v for k, v in published.state_dict().items()}  # saved from a DataParallel model
    torch.save({"state_dict": released}, tmp_path / "released.pt")
    overrides = json.dumps(SMALL_SEGMAMBA)
    assert main(["import-published", str(tmp_path / "released.pt"), str(tmp_path / "b.zip"),
                 "--model-overrides", overrides]) == 0  # fmt: skip

    manifest, weights = bundle_parts(tmp_path / "b.zip")
    expected = published.state_dict()
    assert weights.keys() == expected.keys() and all(torch.equal(weights[k], expected[k]) for k in expected)
    assert manifest["model"] == {
        "name": "segmamba",
        "in_channels": 4,
        "out_channels": 4,
        "patch_size": [128, 128, 128],
        "overrides": SMALL_SEGMAMBA,
    }
    preprocessing = manifest["preprocessing"]
    assert preprocessing["name"] == "brats2023" and preprocessing["modality"] == "MRI"
    assert preprocessing["channel_names"] == ["t2w", "t2f", "t1n", "t1c"]
    assert preprocessing["target_spacing"] == [1.0, 1.0, 1.0]
    assert preprocessing["normalisation"] == [{"scheme": "zscore"}] * 4
    assert manifest["dataset"]["regions"] == {"WT": [1, 2, 3], "TC": [1, 3], "ET": [3]}

    # without the overrides the weights do not fit the published (full-size) model: refused, nothing written
    assert main(["import-published", str(tmp_path / "released.pt"), str(tmp_path / "full.zip")]) == 2
    assert "weights do not fit model segmamba" in capsys.readouterr().err
    assert not (tmp_path / "full.zip").exists()


@pytest.mark.slow
def test_an_imported_published_bundle_segments_a_folder(tmp_path):
    torch.manual_seed(0)
    published = build_model("segmamba", 4, 4, patch_size=(32, 32, 32), **SMALL_SEGMAMBA)
    torch.save(published.state_dict(), tmp_path / "released.pt")
    assert main(["import-published", str(tmp_path / "released.pt"), str(tmp_path / "b.zip"),
                 "--model-overrides", json.dumps(SMALL_SEGMAMBA)]) == 0  # fmt: skip
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_nifti_case(inputs, "scan", toy_volume(0, shape=(30, 28, 26), channels=4), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    assert main(["predict", "--model", str(tmp_path / "b.zip"), "-i", str(inputs), "-o", str(tmp_path / "out"),
                 "--device", "cpu", "--no-tta", "--roi-size", "32", "32", "32"]) == 0  # fmt: skip
    assert (tmp_path / "out" / "scan.nii.gz").is_file()
