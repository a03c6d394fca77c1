"""Tests of the inference step: sliding window + mirror TTA, NIfTI export, predict on preprocessed and raw cases."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import torch
from torch import nn

from segmamba.data.fingerprint import data_fingerprint, read_data_fingerprint
from segmamba.data.preprocess import preprocess_image
from segmamba.data.split import make_split
from segmamba.errors import InputError
from segmamba.inference.sliding_window import mirror_axes, predict_logits
from segmamba.models import checkpoint as model_checkpoint
from segmamba.predict.predictor import run_prediction, write_label_map
from segmamba.predict.settings import PredictSettings
from segmamba.train import checkpoint as ckpt

TINY_SEGRESNET = {"init_filters": 8, "blocks_down": [1, 1], "blocks_up": [1]}


class AsymmetricNet(nn.Module):
    """A conv with a random (non-symmetric) kernel, so mirrored predictions differ from plain ones."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.conv = nn.Conv3d(2, classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_mirror_axes_are_the_eight_flips():
    flips = mirror_axes(True)
    assert len(flips) == 8 and len(set(flips)) == 8 and () in flips and (2, 3, 4) in flips
    assert mirror_axes(False) == [()]


def test_single_window_prediction_equals_model_and_tta_averages_flips():
    model = AsymmetricNet().eval()
    image = torch.randn(2, 8, 8, 8)
    with torch.no_grad():
        plain = model(image[None])[0]
        flipped = []
        for axes in [(), (1,), (2,), (3,), (1, 2), (1, 3), (2, 3), (1, 2, 3)]:
            x = torch.flip(image, axes) if axes else image
            flipped.append(torch.flip(model(x[None])[0], axes) if axes else model(x[None])[0])
    no_tta = predict_logits(model, image, (8, 8, 8), tta=False)
    with_tta = predict_logits(model, image.numpy(), (8, 8, 8), tta=True)
    torch.testing.assert_close(no_tta, plain, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(with_tta, torch.stack(flipped).mean(0), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(with_tta, no_tta, atol=1e-3)


def test_sliding_window_covers_volumes_larger_and_smaller_than_roi():
    model = nn.Conv3d(2, 3, 1).eval()  # pointwise: the stitched result must equal the direct result
    for shape in [(2, 20, 9, 13), (2, 5, 6, 7)]:
        image = torch.randn(shape)
        with torch.no_grad():
            expected = model(image[None])[0]
        result = predict_logits(model, image, (8, 8, 8), overlap=0.5, sw_batch_size=3, tta=True)
        assert result.shape == (3, *shape[1:])
        torch.testing.assert_close(result, expected, rtol=1e-4, atol=1e-4)


def test_write_label_map_keeps_affine_and_uint8(tmp_path):
    affine = np.array([[-0.8, 0, 0, 10], [0, 0.8, 0, -5], [0, 0, 2.5, 3], [0, 0, 0, 1]])
    labels = np.random.default_rng(0).integers(0, 4, (5, 6, 7))
    write_label_map(tmp_path / "a.nii.gz", labels, affine)
    image = nib.load(tmp_path / "a.nii.gz")
    assert image.get_data_dtype() == np.uint8
    np.testing.assert_allclose(image.affine, affine)
    np.testing.assert_array_equal(np.asarray(image.dataobj), labels)
    with pytest.raises(ValueError):
        write_label_map(tmp_path / "b.nii.gz", labels - 1, affine)


def training_record(dataset_json: dict, **changes) -> dict:
    """The ``dataset`` entry a training writes into its checkpoints, optionally changed."""
    fields = ("name", "channel_names", "label_names", "regions", "num_classes")
    return {**{key: dataset_json[key] for key in fields}, **changes}


def save_random_checkpoint(
    path, in_channels: int, classes: int, dataset: dict, patch=(16, 16, 16), fingerprint: dict | None = None
) -> None:
    """A checkpoint of a tiny SegResNet with random weights, recorded as trained on ``dataset`` (and the data of
    ``fingerprint``)."""
    torch.manual_seed(0)
    spec = model_checkpoint.model_spec("segresnet", in_channels, classes, patch, TINY_SEGRESNET)
    model = model_checkpoint.build_from_spec(spec)
    payload = {"model": spec, "state_dict": model.state_dict(), "dataset": dataset, "data_fingerprint": fingerprint}
    ckpt.save_checkpoint(path, payload)


@pytest.fixture
def anisotropic_mri_folder(tmp_path):
    """A preprocessed folder with one MRI case (zero border -> cropped; 0.7 x 0.9 x 2.5 mm -> resampled)."""
    dataset_json = {
        "name": "toy",
        "modality": "MRI",
        "channel_names": ["t1", "t2"],
        "label_names": {"0": "bg", "1": "a", "2": "b"},
        "regions": {"a": [1], "ab": [1, 2]},
        "num_classes": 3,
        "target_spacing": [1.0, 1.0, 1.0],
        "normalisation": [{"scheme": "zscore"}, {"scheme": "zscore"}],
        "case_ids": ["toy_001"],
    }
    rng = np.random.default_rng(0)
    image = np.zeros((2, 30, 26, 9), np.float32)
    image[:, 4:25, 3:22, 2:8] = rng.normal(1, 1, (2, 21, 19, 6))
    affine = np.diag([0.7, 0.9, 2.5, 1.0])
    affine[:3, 3] = [-12.0, 4.0, 30.0]
    pre_image, properties = preprocess_image(image, affine, (0.7, 0.9, 2.5), dataset_json)
    assert properties["cropped_shape"] != properties["original_shape"]  # the fixture really crops
    assert properties["resampled_shape"] != properties["cropped_shape"]  # ... and resamples
    folder = tmp_path / "pre"
    (folder / "toy_001").mkdir(parents=True)
    np.save(folder / "toy_001" / "image.npy", pre_image)
    np.save(folder / "toy_001" / "label.npy", np.zeros((1, *pre_image.shape[1:]), np.int8))
    (folder / "toy_001" / "properties.json").write_text(json.dumps(properties))
    (folder / "dataset.json").write_text(json.dumps(dataset_json))
    split = make_split(["toy_001"])  # one case: train and val empty, test = the case
    (tmp_path / "split.json").write_text(json.dumps(split))
    fingerprint = data_fingerprint(split, dataset_json)
    save_random_checkpoint(tmp_path / "model.pt", 2, 3, training_record(dataset_json), fingerprint=fingerprint)
    return tmp_path, image.shape[1:], affine


@pytest.mark.parametrize("tta", [True, False])
def test_predict_preprocessed_case_restores_original_shape_and_affine(anisotropic_mri_folder, tta):
    root, shape, affine = anisotropic_mri_folder
    out = root / "pred"
    result = run_prediction(
        root / "model.pt", root / "pre", out, PredictSettings(tta=tta), split=root / "split.json", subset="test"
    )
    assert result["predicted"] == ["toy_001"]
    prediction = nib.load(out / "toy_001.nii.gz")
    assert prediction.shape == shape
    np.testing.assert_allclose(prediction.affine, affine)
    labels = np.asarray(prediction.dataobj)
    assert prediction.get_data_dtype() == np.uint8 and labels.max() <= 2
    assert not labels[:4].any() and not labels[25:].any()  # outside the crop box: background


def test_predict_skips_existing_outputs_unless_overwrite(anisotropic_mri_folder):
    root, _, _ = anisotropic_mri_folder
    out = root / "pred"
    options = PredictSettings(tta=False)
    run_prediction(root / "model.pt", root / "pre", out, options)
    (out / "toy_001.nii.gz").write_bytes(b"marker")
    again = run_prediction(root / "model.pt", root / "pre", out, options)
    assert again["predicted"] == [] and again["skipped"] == ["toy_001"]
    assert (out / "toy_001.nii.gz").read_bytes() == b"marker"
    options.overwrite = True
    assert run_prediction(root / "model.pt", root / "pre", out, options)["predicted"] == ["toy_001"]
    assert nib.load(out / "toy_001.nii.gz").shape == (30, 26, 9)


def test_predict_rejects_checkpoint_with_other_class_count(anisotropic_mri_folder):
    root, _, _ = anisotropic_mri_folder
    toy = json.loads((root / "pre" / "dataset.json").read_text())
    save_random_checkpoint(root / "two.pt", 2, 2, training_record(toy, num_classes=2))
    with pytest.raises(InputError, match="num_classes 2 vs 3"):
        run_prediction(root / "two.pt", root / "pre", root / "pred", PredictSettings(tta=False))


@pytest.mark.parametrize(
    ("changes", "difference"),
    [
        ({"name": "crc500"}, "name 'crc500' vs 'toy'"),
        ({"channel_names": ["t2", "t1"]}, "channel_names ['t2', 't1'] vs ['t1', 't2']"),
        ({"label_names": {"0": "bg", "1": "b", "2": "a"}}, "label_names"),
    ],
)
def test_predict_refuses_a_checkpoint_trained_on_another_dataset(anisotropic_mri_folder, changes, difference, capsys):
    from segmamba.cli import main

    root, _, _ = anisotropic_mri_folder
    toy = json.loads((root / "pre" / "dataset.json").read_text())
    save_random_checkpoint(root / "foreign.pt", 2, 3, training_record(toy, **changes))
    with pytest.raises(InputError, match="foreign.pt was trained on dataset") as info:
        run_prediction(root / "foreign.pt", root / "pre", root / "pred", PredictSettings(tta=False))
    assert difference in str(info.value) and "dataset.json" in str(info.value)
    assert not (root / "pred").exists()  # refused before any case is predicted
    args = [
        "predict",
        "--checkpoint",
        str(root / "foreign.pt"),
        "--preprocessed",
        str(root / "pre"),
        "--out",
        str(root / "pred"),
        "--no-tta",
        "--device",
        "cpu",
    ]
    assert main(args) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "foreign.pt" in error and difference in error


def test_predict_refuses_a_checkpoint_without_a_training_dataset_record(anisotropic_mri_folder):
    root, _, _ = anisotropic_mri_folder
    save_random_checkpoint(root / "bare.pt", 2, 3, {})
    with pytest.raises(InputError, match="does not record its training dataset"):
        run_prediction(root / "bare.pt", root / "pre", root / "pred", PredictSettings(tta=False))


@pytest.mark.slow
def test_predict_cli_on_raw_scans_without_labels(tmp_path):
    from segmamba.data.preprocess import preprocess_dataset
    from segmamba.data.split import write_split
    from segmamba.data.synth import write_synthetic_dataset

    raw = tmp_path / "raw"
    ids = write_synthetic_dataset("crc", raw, cases=3, size=16, seed=1)
    write_split(tmp_path / "split.json", ids)
    preprocess_dataset("crc500", raw, tmp_path / "split.json", tmp_path / "pre")
    shutil.rmtree(raw / "labelsTr")  # new scans: no labels
    crc = json.loads((tmp_path / "pre" / "dataset.json").read_text())
    fingerprint = read_data_fingerprint(tmp_path / "split.json", tmp_path / "pre")
    save_random_checkpoint(tmp_path / "model.pt", 1, 2, training_record(crc), fingerprint=fingerprint)
    command = [
        sys.executable,
        "-m",
        "segmamba",
        "predict",
        "--checkpoint",
        str(tmp_path / "model.pt"),
        "--preprocessed",
        str(tmp_path / "pre"),
        "--out",
        str(tmp_path / "pred"),
        "--dataset",
        "crc500",
        "--root",
        str(raw),
        "--no-tta",
        "--device",
        "cpu",
    ]
    subprocess.run(command, check=True, capture_output=True, text=True)
    for case_id in ids:
        source = nib.load(raw / "imagesTr" / f"{case_id}_0000.nii.gz")
        prediction = nib.load(tmp_path / "pred" / f"{case_id}.nii.gz")
        assert prediction.shape == source.shape
        np.testing.assert_allclose(prediction.affine, source.affine, atol=1e-5)
    bad_command = [str(tmp_path / "nowhere") if arg == str(raw) else arg for arg in command]
    bad = subprocess.run(bad_command, capture_output=True, text=True)
    assert bad.returncode == 2 and "nowhere" in bad.stderr and "Traceback" not in bad.stderr


def test_predict_cli_help(capsys):
    from segmamba.cli import build_parser

    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["predict", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in (
        "--checkpoint",
        "--preprocessed",
        "--out",
        "--split",
        "--subset",
        "--dataset",
        "--root",
        "--no-tta",
        "--overlap",
        "--sw-batch-size",
        "--device",
        "--overwrite",
    ):
        assert flag in text


class CodeOnLoad:
    """A pickled object whose unpickling would touch a marker file (what a malicious checkpoint does)."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_predict_refuses_a_checkpoint_with_a_pickle_payload_without_running_it(anisotropic_mri_folder, capsys):
    from segmamba.cli import main

    root, _, _ = anisotropic_mri_folder
    marker = root / "PWNED"
    torch.save({"format": model_checkpoint.CHECKPOINT_FORMAT, "x": CodeOnLoad(marker)}, root / "evil.pt")
    args = ["predict", "--checkpoint", str(root / "evil.pt"), "--preprocessed", str(root / "pre")]
    assert main([*args, "--out", str(root / "pred"), "--no-tta", "--device", "cpu"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "evil.pt is refused" in error and "could run code" in error
    assert not marker.exists()


def test_predict_refuses_a_checkpoint_of_another_split_or_preprocessing(anisotropic_mri_folder):
    root, _, _ = anisotropic_mri_folder
    toy = json.loads((root / "pre" / "dataset.json").read_text())
    split = json.loads((root / "split.json").read_text())
    other_seed = data_fingerprint({**split, "seed": 7}, toy)
    save_random_checkpoint(root / "seed7.pt", 2, 3, training_record(toy), fingerprint=other_seed)
    options = PredictSettings(tta=False)
    with pytest.raises(InputError, match=r"seed7.pt was not trained on the data of split .*split seed 7 -> 42\)"):
        run_prediction(root / "seed7.pt", root / "pre", root / "pred", options, split=root / "split.json")
    # the split is not compared without one; the preprocessing always is
    assert run_prediction(root / "seed7.pt", root / "pre", root / "pred7", options)["predicted"] == ["toy_001"]
    other_spacing = data_fingerprint(split, {**toy, "target_spacing": [2.0, 2.0, 2.0]})
    save_random_checkpoint(root / "coarse.pt", 2, 3, training_record(toy), fingerprint=other_spacing)
    with pytest.raises(InputError, match=r"coarse.pt was not trained .*preprocessing \(dataset.json"):
        run_prediction(root / "coarse.pt", root / "pre", root / "pred", options)
    save_random_checkpoint(root / "old.pt", 2, 3, training_record(toy))  # no fingerprint: an older checkpoint
    with pytest.raises(InputError, match="old.pt was not trained .*no data fingerprint recorded"):
        run_prediction(root / "old.pt", root / "pre", root / "pred", options)
    assert not (root / "pred").exists()  # every refusal comes before any output


def test_predictions_record_their_provenance_and_are_never_mixed(anisotropic_mri_folder):
    root, _, _ = anisotropic_mri_folder
    options = PredictSettings(tta=False)
    run_prediction(root / "model.pt", root / "pre", root / "pred", options, split=root / "split.json")
    provenance = json.loads((root / "pred" / "provenance.json").read_text())
    checkpoint = model_checkpoint.read_checkpoint(root / "model.pt")
    assert provenance["data_fingerprint"] == checkpoint["data_fingerprint"] and provenance["subset"] == "test"
    toy = json.loads((root / "pre" / "dataset.json").read_text())
    torch.manual_seed(1)  # another model of the same data, saved over the same path (a retraining)
    model = model_checkpoint.build_from_spec(checkpoint["model"])
    ckpt.save_checkpoint(root / "model.pt", {**checkpoint, "state_dict": model.state_dict(), "dataset": toy})
    with pytest.raises(InputError, match="holds predictions of another checkpoint"):
        run_prediction(root / "model.pt", root / "pre", root / "pred", options, split=root / "split.json")
    options.overwrite = True
    assert run_prediction(root / "model.pt", root / "pre", root / "pred", options)["predicted"] == ["toy_001"]
