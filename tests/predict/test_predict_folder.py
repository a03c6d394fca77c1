"""``segmamba predict --model M -i IN -o OUT``: any folder of NIfTI / .mha / .nrrd cases, outputs in each input's
geometry, ensembles = mean of the models' probabilities, and clear errors."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from model_fixtures import make_run_folder, toy_volume, write_itk_case, write_nifti_case

from segmamba.cli import main

SPACING = (0.8, 1.1, 2.0)


def predict(*args) -> int:
    """Run ``segmamba predict`` in this process (CPU, no TTA: faster, and TTA is tested in test_predict.py)."""
    return main(["predict", *map(str, args), "--device", "cpu", "--no-tta"])


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_run_folder(tmp_path_factory.mktemp("models"), "run_a", seed=0)


def test_outputs_keep_each_inputs_format_and_geometry(model, tmp_path):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    image = toy_volume(0)
    affine = write_nifti_case(inputs, "nii", image, SPACING, origin=(-40.0, 12.5, 7.0))
    write_itk_case(inputs, "mha", image, SPACING, origin=(15.0, -3.0, 60.0), suffix=".mha")
    write_itk_case(inputs, "nrrd", toy_volume(1, shape=(17, 21, 9)), (1.2, 0.9, 1.5), (1.0, 2.0, 3.0), ".nrrd")
    assert predict("--model", model, "-i", inputs, "-o", out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["mha.mha", "nii.nii.gz", "nrrd.nrrd"]

    source, result = nib.load(inputs / "nii_0000.nii.gz"), nib.load(out / "nii.nii.gz")
    assert result.shape == source.shape == image.shape[1:]
    np.testing.assert_allclose(result.affine, affine, atol=1e-5)
    np.testing.assert_allclose(result.header.get_zooms(), SPACING, atol=1e-5)
    assert result.get_data_dtype() == np.uint8
    for case, suffix in (("mha", ".mha"), ("nrrd", ".nrrd")):
        source, result = (
            sitk.ReadImage(str(inputs / f"{case}_0000{suffix}")),
            sitk.ReadImage(str(out / f"{case}{suffix}")),
        )
        assert result.GetSize() == source.GetSize()
        np.testing.assert_allclose(result.GetOrigin(), source.GetOrigin(), atol=1e-6)
        np.testing.assert_allclose(result.GetSpacing(), source.GetSpacing(), atol=1e-6)
        np.testing.assert_allclose(result.GetDirection(), source.GetDirection(), atol=1e-6)

    nifti_labels = np.asarray(nib.load(out / "nii.nii.gz").dataobj)
    itk_labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "mha.mha"))).transpose(2, 1, 0)
    # the same voxels at the same spacing: the same prediction, whatever the file format and world position
    np.testing.assert_array_equal(itk_labels, nifti_labels)
    assert len(np.unique(nifti_labels)) > 1
    assert not nifti_labels[:3].any() and not nifti_labels[-3:].any()  # outside the non-zero box: background


def test_an_ensemble_is_the_mean_of_its_models_probabilities(model, tmp_path):
    other = make_run_folder(tmp_path, "run_b", seed=1, target_spacing=(1.3, 1.3, 1.3))  # its own preprocessing
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_nifti_case(inputs, "case1", toy_volume(2), SPACING, origin=(0.0, 0.0, 0.0))
    write_itk_case(inputs, "case2", toy_volume(3), SPACING, origin=(5.0, 5.0, 5.0), suffix=".mha")
    for models, out in (([model], "a"), ([other], "b"), ([model, other], "ab")):
        flags = [flag for path in models for flag in ("--model", path)]
        assert predict(*flags, "-i", inputs, "-o", tmp_path / out, "--save-probabilities") == 0
    for case, suffix in (("case1", ".nii.gz"), ("case2", ".mha")):
        single = [np.load(tmp_path / out / f"{case}.npz")["probabilities"] for out in ("a", "b")]
        ensembled = np.load(tmp_path / "ab" / f"{case}.npz")["probabilities"]
        assert single[0].shape == (3, *toy_volume(2).shape[1:])
        assert np.abs(single[0] - single[1]).max() > 0.05  # two really different models
        mean = (single[0] + single[1]) / 2
        np.testing.assert_allclose(ensembled, mean, atol=1e-6)
        np.testing.assert_allclose(mean.sum(axis=0), 1.0, atol=1e-5)
        path = tmp_path / "ab" / f"{case}{suffix}"
        if suffix == ".nii.gz":
            labels = np.asarray(nib.load(path).dataobj)
        else:
            labels = sitk.GetArrayFromImage(sitk.ReadImage(str(path))).transpose(2, 1, 0)
        top_two = np.sort(mean, axis=0)[-2:]
        clear = top_two[1] - top_two[0] > 1e-4  # voxels without a near tie
        np.testing.assert_array_equal(labels[clear], np.argmax(mean, axis=0)[clear])


def test_single_channel_cases_may_be_plain_file_names(tmp_path):
    model = make_run_folder(tmp_path, "mono", seed=2, channels=["CTish"])
    inputs = tmp_path / "in"
    inputs.mkdir()
    image = toy_volume(4, channels=1)
    nib.save(nib.Nifti1Image(image[0], np.diag([*SPACING, 1.0])), inputs / "plain.nii")
    write_nifti_case(inputs, "named", image, SPACING, origin=(0.0, 0.0, 0.0))
    assert predict("--model", model, "-i", inputs, "-o", tmp_path / "out") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["named.nii.gz", "plain.nii"]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda folder: (folder / "c1_0001.nii.gz").unlink(), "case c1: missing channel file(s) c1_0001.* (t2)"),
        (
            lambda folder: shutil.copy(folder / "c1_0001.nii.gz", folder / "c1_0002.nii.gz"),
            "case c1: c1_0002.nii.gz: the model takes 2 channel(s) (t1, t2)",
        ),
        (
            lambda folder: shutil.copy(folder / "c1_0001.nii.gz", folder / "c2.nii.gz"),
            "c2.nii.gz: not named <case>_<4-digit channel> (the model takes 2 channels)",
        ),
    ],
    ids=["missing-channel", "extra-channel", "unnamed-channel"],
)
def test_a_folder_that_does_not_fit_the_model_is_refused_naming_case_and_file(model, tmp_path, capsys, damage, message):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_nifti_case(inputs, "c1", toy_volume(0), SPACING, origin=(0.0, 0.0, 0.0))
    damage(inputs)
    assert predict("--model", model, "-i", inputs, "-o", tmp_path / "out") == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_model_folder_without_a_finished_checkpoint_is_refused(model, tmp_path, capsys):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(model / "checkpoint_final.pt", unfinished / "checkpoint_latest.pt")
    assert predict("--model", unfinished, "-i", tmp_path, "-o", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert f"model folder {unfinished} has no finished checkpoint checkpoint_final.pt" in err
    assert "present: checkpoint_latest.pt" in err


def test_a_failing_case_is_named_and_the_others_are_still_written(model, tmp_path, capsys):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    for case in ("good1", "broken", "good2"):
        write_nifti_case(inputs, case, toy_volume(0), SPACING, origin=(0.0, 0.0, 0.0))
    (inputs / "broken_0001.nii.gz").write_bytes(b"not a nifti file")
    assert predict("--model", model, "-i", inputs, "-o", out) == 1
    assert sorted(p.name for p in out.iterdir()) == ["good1.nii.gz", "good2.nii.gz"]
    err = capsys.readouterr().err
    assert "case broken failed" in err and "broken_0001.nii.gz" in err


def test_folder_mode_and_dataset_mode_flags_do_not_mix(model, tmp_path, capsys):
    assert predict("--model", model, "-i", tmp_path) == 2
    assert "--model needs -i IN_DIR and -o OUT_DIR" in capsys.readouterr().err
    assert predict("--model", model, "-i", tmp_path, "-o", tmp_path / "out", "--split", tmp_path / "split.json") == 2
    assert "--model (folder mode) does not take --split" in capsys.readouterr().err
    assert predict("--model", model / "checkpoint_final.pt", "-i", tmp_path, "-o", tmp_path / "out") == 2
    assert "not a segmamba-bench bundle" in capsys.readouterr().err
    assert predict("--out", tmp_path) == 2
    assert "give --checkpoint, --preprocessed" in capsys.readouterr().err
