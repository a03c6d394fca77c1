"""Dataset readers on synthetic-generator output and on hand-made layouts."""

import json

import nibabel as nib
import numpy as np
import pytest

from segmamba.data.datasets import open_dataset
from segmamba.data.synth import write_synthetic_dataset
from segmamba.errors import InputError


def save(path, data, spacing=(1.0, 1.0, 1.0)):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(data), np.diag([*spacing, 1.0])), str(path))


@pytest.mark.parametrize(
    ("kind", "name", "channels", "regions"),
    [
        ("brats", "brats2023", ["t2w", "t2f", "t1n", "t1c"], {"WT": [1, 2, 3], "TC": [1, 3], "ET": [3]}),
        ("aiib", "aiib2023", ["CT"], {"airway": [1]}),
        ("crc", "crc500", ["CT"], {"tumour": [1]}),
    ],
)
def test_reader_on_synthetic_output(tmp_path, kind, name, channels, regions):
    write_synthetic_dataset(kind, tmp_path, cases=3, size=20, seed=1)
    dataset = open_dataset(name, tmp_path)
    assert list(dataset.info.channel_names) == channels
    assert dataset.info.regions == regions
    ids = dataset.case_ids()
    assert len(ids) == 3 and ids == sorted(ids)
    case = dataset.load_case(ids[0])
    assert case.image.shape == (len(channels), 20, 20, 20) and case.image.dtype == np.float32
    assert case.label.shape == (20, 20, 20) and case.label.dtype == np.int16
    assert set(np.unique(case.label)) <= set(dataset.info.label_names)
    assert case.affine.shape == (4, 4) and case.spacing.shape == (3,)
    assert len(case.image_paths) == len(channels) and case.label_path.exists()


def test_brats_channel_order_follows_the_file_names(tmp_path):
    case = "BraTS-GLI-00007-000"
    for value, modality in enumerate(["t1c", "t1n", "t2f", "t2w"], start=1):
        save(tmp_path / case / f"{case}-{modality}.nii.gz", np.full((4, 4, 4), value, np.int16))
    save(tmp_path / case / f"{case}-seg.nii.gz", np.ones((4, 4, 4), np.uint8))
    loaded = open_dataset("brats2023", tmp_path).load_case(case)
    # [t2w, t2f, t1n, t1c] -> values 4, 3, 2, 1
    assert loaded.image[:, 0, 0, 0].tolist() == [4.0, 3.0, 2.0, 1.0]


def test_brats_label_4_is_an_error_with_a_hint(tmp_path):
    write_synthetic_dataset("brats", tmp_path, cases=1, size=16)
    case = "BraTS-GLI-00000-000"
    seg_path = tmp_path / case / f"{case}-seg.nii.gz"
    original = nib.load(str(seg_path))
    seg = np.asarray(original.dataobj).copy()
    seg[seg == 3] = 4
    nib.save(nib.Nifti1Image(seg, original.affine), str(seg_path))
    with pytest.raises(InputError) as info:
        open_dataset("brats2023", tmp_path).load_case(case)
    message = str(info.value)
    assert case in message and str(seg_path) in message and "pre-2023" in message and "4 -> 3" in message


def test_missing_modality_names_case_and_file(tmp_path):
    write_synthetic_dataset("brats", tmp_path, cases=1, size=16)
    case = "BraTS-GLI-00000-000"
    (tmp_path / case / f"{case}-t2f.nii.gz").unlink()
    with pytest.raises(InputError, match=f"case {case}: file .*{case}-t2f.nii.gz: missing"):
        open_dataset("brats2023", tmp_path).load_case(case)


def test_labels_optional_for_prediction(tmp_path):
    write_synthetic_dataset("aiib", tmp_path, cases=2, size=16)
    for path in (tmp_path / "gt").iterdir():
        path.unlink()
    with pytest.raises(InputError, match="AIIB23_0.*missing"):
        open_dataset("aiib2023", tmp_path).load_case("AIIB23_0")
    case = open_dataset("aiib2023", tmp_path, require_labels=False).load_case("AIIB23_0")
    assert case.label is None and case.label_path is None and case.image.shape == (1, 16, 16, 16)


def test_generic_nnunet_dataset_with_two_channels(tmp_path):
    meta = {
        "channel_names": {"0": "T2", "1": "ADC"},
        "labels": {"background": 0, "PZ": 1, "TZ": 2},
        "numTraining": 2,
        "file_ending": ".nii.gz",
    }
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    for case in ("prostate_02", "prostate_01"):
        for channel in range(2):
            save(
                tmp_path / "imagesTr" / f"{case}_{channel:04d}.nii.gz",
                np.full((5, 6, 7), channel + 1.5, np.float32),
                spacing=(0.6, 0.6, 3.6),
            )
        label = (np.arange(210).reshape(5, 6, 7) % 3).astype(np.uint8)
        save(tmp_path / "labelsTr" / f"{case}.nii.gz", label, spacing=(0.6, 0.6, 3.6))
    dataset = open_dataset("nnunet", tmp_path)
    assert dataset.case_ids() == ["prostate_01", "prostate_02"]
    assert dataset.info.modality == "MRI" and dataset.info.channel_names == ("T2", "ADC")
    assert dataset.info.regions == {"PZ": [1], "TZ": [2]} and dataset.info.num_classes == 3
    case = dataset.load_case("prostate_01")
    assert case.image[:, 0, 0, 0].tolist() == [1.5, 2.5]
    assert np.allclose(case.spacing, [0.6, 0.6, 3.6])


def test_nnunet_images_ts_without_labels(tmp_path):
    (tmp_path / "dataset.json").write_text(
        json.dumps({"channel_names": {"0": "CT"}, "labels": {"background": 0, "liver": 1}, "file_ending": ".nii.gz"})
    )
    save(tmp_path / "imagesTs" / "new_001_0000.nii.gz", np.zeros((4, 4, 4), np.int16) - 1000)
    dataset = open_dataset("nnunet", tmp_path, require_labels=False)
    assert dataset.info.modality == "CT"
    assert dataset.load_case("new_001").label is None


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"channel_names": {"0": "CT"}, "labels": {"background": 0, "a": [1, 2]}}, "region-based"),
        ({"channel_names": {"0": "CT"}, "labels": {"background": 0, "a": 2}}, "consecutive"),
        ({"channel_names": {"0": "CT"}, "labels": {"background": 0, "a": 1}, "file_ending": ".png"}, "not supported"),
        ({"labels": {"background": 0}}, "key channel_names: missing"),
    ],
)
def test_bad_nnunet_dataset_json(tmp_path, meta, message):
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=message):
        open_dataset("nnunet", tmp_path)


def test_crc_dataset_json_is_optional_and_validated(tmp_path):
    save(tmp_path / "imagesTr" / "crc_1_0000.nii.gz", np.zeros((4, 4, 4), np.int16))
    save(tmp_path / "labelsTr" / "crc_1.nii.gz", np.zeros((4, 4, 4), np.uint8))
    assert open_dataset("crc500", tmp_path).case_ids() == ["crc_1"]
    (tmp_path / "dataset.json").write_text(
        json.dumps({"channel_names": {"0": "CT", "1": "PET"}, "labels": {"background": 0, "tumour": 1}})
    )
    with pytest.raises(InputError, match="one CT channel"):
        open_dataset("crc500", tmp_path)


def test_missing_root_and_empty_root_and_unknown_name(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_dataset("brats2023", tmp_path / "nowhere")
    with pytest.raises(InputError, match="no brats2023 cases"):
        open_dataset("brats2023", tmp_path).case_ids()
    with pytest.raises(InputError, match="unknown dataset"):
        open_dataset("msd", tmp_path)
