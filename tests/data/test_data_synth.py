"""Synthetic stand-ins: exact layouts, byte-identical per seed, realistic headers, learnable contrasts."""

import nibabel as nib
import numpy as np
import pytest

from segmamba.cli import main
from segmamba.data.datasets import open_dataset


def files_of(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", ["brats", "aiib", "crc"])
def test_byte_identical_per_seed_and_different_across_seeds(tmp_path, kind):
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        assert (
            main(
                [
                    "synth",
                    "--kind",
                    kind,
                    "--out",
                    str(tmp_path / name),
                    "--cases",
                    "2",
                    "--size",
                    "16",
                    "--seed",
                    str(seed),
                ]
            )
            == 0
        )
    first, second, other = (files_of(tmp_path / n) for n in "abc")
    assert first == second
    assert first.keys() == other.keys() and first != other


def test_layouts_are_the_real_ones(tmp_path):
    main(["synth", "--kind", "brats", "--out", str(tmp_path / "b"), "--cases", "1", "--size", "16"])
    main(["synth", "--kind", "aiib", "--out", str(tmp_path / "a"), "--cases", "1", "--size", "16"])
    main(["synth", "--kind", "crc", "--out", str(tmp_path / "c"), "--cases", "1", "--size", "16"])
    case = "BraTS-GLI-00000-000"
    assert sorted(p.name for p in (tmp_path / "b" / case).iterdir()) == sorted(
        f"{case}-{m}.nii.gz" for m in ("t1c", "t1n", "t2f", "t2w", "seg")
    )
    assert [str(p) for p in sorted(files_of(tmp_path / "a"))] == ["gt/AIIB23_0.nii.gz", "img/AIIB23_0.nii.gz"]
    assert [str(p) for p in sorted(files_of(tmp_path / "c"))] == [
        "dataset.json",
        "imagesTr/CRC_000_0000.nii.gz",
        "labelsTr/CRC_000.nii.gz",
    ]


def test_brats_headers_regions_and_contrasts(tmp_path):
    main(["synth", "--kind", "brats", "--out", str(tmp_path), "--cases", "4", "--size", "32", "--seed", "1"])
    dataset = open_dataset("brats2023", tmp_path)
    header = nib.load(str(dataset.case_files(dataset.case_ids()[0])[0][0])).header
    assert header.get_zooms() == (1.0, 1.0, 1.0) and header.get_data_dtype() == np.int16
    for case_id in dataset.case_ids():
        case = dataset.load_case(case_id)
        t2w, t2f, t1n, t1c = case.image
        brain = (case.image[0] > 0) & (case.label == 0)
        assert (case.image[:, case.image[0] == 0] == 0).all()  # zero background, same mask in every channel
        assert 0.02 < np.mean(case.label > 0) < 0.15  # whole tumour is not tiny
        assert {1, 2, 3} <= set(np.unique(case.label).tolist())
        ed, et, ncr = case.label == 2, case.label == 3, case.label == 1
        assert np.median(t2f[ed]) > 1.5 * np.median(t2f[brain])  # oedema bright in FLAIR
        assert np.median(t2w[ed]) > 1.3 * np.median(t2w[brain])  # and in T2
        assert np.median(t1c[et]) > 1.25 * np.median(t1c[brain])  # enhancing tumour bright in T1c
        assert np.median(t1c[ncr]) < 0.7 * np.median(t1c[et])  # necrosis dark inside the enhancing rim
        # nesting: necrosis is enclosed by enhancing tumour, which is enclosed by tumour
        grown_tc = np.pad(np.isin(case.label, [1, 3]), 1)
        assert not (ncr & ~_dilate(grown_tc)[1:-1, 1:-1, 1:-1]).any()


def _dilate(mask):
    from scipy import ndimage

    return ndimage.binary_dilation(mask)


@pytest.mark.parametrize(("kind", "name", "z_spacing"), [("aiib", "aiib2023", 1.0), ("crc", "crc500", 2.5)])
def test_ct_headers_and_hounsfield_units(tmp_path, kind, name, z_spacing):
    main(["synth", "--kind", kind, "--out", str(tmp_path), "--cases", "3", "--size", "24"])
    dataset = open_dataset(name, tmp_path)
    for case_id in dataset.case_ids():
        image_path = dataset.case_files(case_id)[0][0]
        assert nib.load(str(image_path)).header.get_data_dtype() == np.int16
        case = dataset.load_case(case_id)
        assert case.spacing[2] == z_spacing and 0.6 <= case.spacing[0] == case.spacing[1] <= 0.9
        hu = case.image[0]
        assert hu.min() >= -1024 and hu.max() < 400
        assert np.mean(hu < -900) > 0.02  # air outside the body
        foreground = case.label > 0
        assert foreground.any()
        if kind == "aiib":  # air-filled lumen darker than lung tissue around it
            assert hu[foreground].mean() < -900
            assert -900 < np.median(hu[(hu > -950) & (hu < -700)]) < -750
        else:  # enhancing tumour brighter than fat and bowel wall
            assert np.median(hu[foreground]) > 80
