"""Preprocessing: exact round trip to the original grid, normalisation, determinism, ground-truth export."""

import json

import nibabel as nib
import numpy as np
import pytest

from segmamba.cli import main
from segmamba.data.datasets import open_dataset
from segmamba.data.preprocess import preprocess_dataset, preprocess_image, restore_to_original
from segmamba.data.preprocessed_reader import load_case, load_dataset_json
from segmamba.data.split import load_split, write_split
from segmamba.data.synth import write_synthetic_dataset


def one_hot(label, num_classes):
    return np.stack([label == c for c in range(num_classes)]).astype(np.float32)


def prepare(tmp_path, kind, name, cases=4, size=20):
    raw = tmp_path / "raw"
    write_synthetic_dataset(kind, raw, cases=cases, size=size, seed=5)
    dataset = open_dataset(name, raw)
    write_split(tmp_path / "split.json", dataset.case_ids())
    return raw, dataset


def write_ct_case(root, case, hu, label, spacing):
    affine = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
    for folder, name, data in (("imagesTr", f"{case}_0000", hu), ("labelsTr", case, label)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(data, affine), str(root / folder / f"{name}.nii.gz"))


def test_brats_round_trip_is_exact_and_files_have_the_contract_types(tmp_path):
    _, dataset = prepare(tmp_path, "brats", "brats2023")
    out = tmp_path / "pre"
    preprocess_dataset("brats2023", dataset.root, tmp_path / "split.json", out)
    meta = load_dataset_json(out)
    assert meta["target_spacing"] == [1.0, 1.0, 1.0] and meta["num_classes"] == 4
    assert meta["case_ids"] == dataset.case_ids() and meta["regions"]["TC"] == [1, 3]
    assert json.loads((out / "fingerprint.json").read_text())["median_spacing"] == [1.0, 1.0, 1.0]
    for case_id in dataset.case_ids():
        image, label, properties = load_case(out, case_id)
        assert isinstance(image, np.memmap) and image.dtype == np.float32 and image.shape[0] == 4
        assert label.dtype == np.int8 and label.shape == (1, *image.shape[1:])
        original = dataset.load_case(case_id)
        assert image.shape[1:] < original.image.shape[1:]  # cropped to the brain
        np.testing.assert_allclose(image.reshape(4, -1).mean(1), 0, atol=1e-4)  # z-score over the crop box
        restored = restore_to_original(one_hot(label[0], 4), properties)
        assert restored.shape == original.label.shape
        np.testing.assert_array_equal(restored, original.label)


def test_anisotropic_ct_round_trip_is_exact_and_normalisation_uses_training_foreground(tmp_path):
    raw = tmp_path / "raw"
    rng = np.random.default_rng(0)
    labels = {}
    for i in range(10):
        hu = rng.integers(-1000, 400, (18, 16, 7)).astype(np.int16)
        label = np.zeros((18, 16, 7), np.uint8)
        label[4 + i % 5 : 9 + i % 5, 3:8, 2:4] = 1
        labels[f"crc_{i:02d}"] = (hu, label)
        write_ct_case(raw, f"crc_{i:02d}", hu, label, (0.7, 0.7, 2.5))
    write_split(tmp_path / "split.json", sorted(labels))
    out = tmp_path / "pre"
    meta = preprocess_dataset("crc500", raw, tmp_path / "split.json", out)
    assert meta["target_spacing"] == pytest.approx([0.7, 0.7, 2.5])
    train = load_split(tmp_path / "split.json")["train"]
    foreground = np.concatenate([labels[c][0][labels[c][1] > 0].astype(np.float64) for c in train])
    (params,) = meta["normalisation"]
    assert params["lower"] == pytest.approx(np.percentile(foreground, 0.5))
    assert params["upper"] == pytest.approx(np.percentile(foreground, 99.5))
    assert params["mean"] == pytest.approx(foreground.mean()) and params["std"] == pytest.approx(foreground.std())
    for case_id, (hu, label) in labels.items():
        image, stored_label, properties = load_case(out, case_id)
        assert image.shape == (1, 18, 16, 7)  # CT is not cropped, spacing already the target
        expected = (np.clip(hu, params["lower"], params["upper"]) - params["mean"]) / params["std"]
        np.testing.assert_allclose(image[0], expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(restore_to_original(one_hot(stored_label[0], 2), properties), label)


def test_resampled_ct_maps_back_to_the_original_grid(tmp_path):
    raw, dataset = prepare(tmp_path, "crc", "crc500", cases=4, size=24)
    out = tmp_path / "pre"
    meta = preprocess_dataset("crc500", raw, tmp_path / "split.json", out, target_spacing=(1.0, 1.0, 2.0))
    for case_id in dataset.case_ids():
        image, label, properties = load_case(out, case_id)
        original = dataset.load_case(case_id)
        expected_shape = np.round(np.array(original.label.shape) * original.spacing / [1.0, 1.0, 2.0])
        assert list(image.shape[1:]) == expected_shape.astype(int).tolist() == properties["resampled_shape"]
        restored = restore_to_original(one_hot(label[0], meta["num_classes"]), properties)
        assert restored.shape == original.label.shape
        overlap = np.logical_and(restored == 1, original.label == 1).sum()
        dice = 2 * overlap / ((restored == 1).sum() + (original.label == 1).sum())
        assert dice > 0.85


@pytest.mark.slow
def test_preprocess_is_deterministic_across_worker_counts(tmp_path):
    raw, dataset = prepare(tmp_path, "aiib", "aiib2023", cases=3, size=16)
    preprocess_dataset("aiib2023", raw, tmp_path / "split.json", tmp_path / "one", workers=1)
    code = main(
        [
            "preprocess",
            "--dataset",
            "aiib2023",
            "--root",
            str(raw),
            "--split",
            str(tmp_path / "split.json"),
            "--out",
            str(tmp_path / "two"),
            "--workers",
            "2",
        ]
    )
    assert code == 0
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert len(files) == 2 + 4 * 3
    for relative in files:
        assert (tmp_path / "one" / relative).read_bytes() == (tmp_path / "two" / relative).read_bytes(), relative
    assert not list((tmp_path / "one").rglob(".*tmp*"))


def test_preprocess_image_matches_stored_case_for_new_scans(tmp_path):
    raw, dataset = prepare(tmp_path, "brats", "brats2023", cases=3, size=16)
    preprocess_dataset("brats2023", raw, tmp_path / "split.json", tmp_path / "pre")
    meta = load_dataset_json(tmp_path / "pre")
    case = open_dataset("brats2023", raw, require_labels=False).load_case(dataset.case_ids()[1])
    image, properties = preprocess_image(case.image, case.affine, case.spacing, meta)
    stored, _, stored_properties = load_case(tmp_path / "pre", case.case_id)
    np.testing.assert_array_equal(image, stored)
    stored_properties.pop("case_id")
    assert properties == stored_properties


def test_ground_truth_command_writes_ground_truth_in_original_geometry(tmp_path):
    raw, dataset = prepare(tmp_path, "crc", "crc500", cases=5, size=16)
    gt = tmp_path / "gt"
    assert (
        main(
            [
                "ground-truth",
                "--dataset",
                "crc500",
                "--root",
                str(raw),
                "--split",
                str(tmp_path / "split.json"),
                "--subset",
                "test",
                "--out",
                str(gt),
            ]
        )
        == 0
    )
    test_ids = load_split(tmp_path / "split.json")["test"]
    assert sorted(p.name for p in gt.iterdir()) == sorted(f"{c}.nii.gz" for c in test_ids)
    for case_id in test_ids:
        written = nib.load(str(gt / f"{case_id}.nii.gz"))
        original = dataset.load_case(case_id)
        np.testing.assert_array_equal(np.asarray(written.dataobj), original.label)
        np.testing.assert_allclose(written.affine, original.affine, atol=1e-5)
