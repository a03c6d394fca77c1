"""`segmamba check`: every kind of bad input reported at once, one line each naming case and file."""

import gzip

import nibabel as nib
import numpy as np
import pytest

from segmamba.cli import main
from segmamba.data.check import check_dataset
from segmamba.data.datasets import open_dataset
from segmamba.data.synth import write_synthetic_dataset

CASES = [f"BraTS-GLI-{i:05d}-000" for i in range(8)]


def path_of(root, case, modality):
    return root / case / f"{case}-{modality}.nii.gz"


def rewrite(path, change=None, affine=None):
    original = nib.load(str(path))
    data = np.asarray(original.dataobj).copy()
    data = change(data) if change else data
    nib.save(nib.Nifti1Image(data, original.affine if affine is None else affine), str(path))


@pytest.fixture
def broken_brats(tmp_path):
    """Eight synthetic BraTS cases, seven of them broken in a different way."""
    root = tmp_path / "raw"
    write_synthetic_dataset("brats", root, cases=8, size=16, seed=3)
    path_of(root, CASES[0], "t1c").unlink()  # missing file
    corrupt = path_of(root, CASES[1], "t2w")
    corrupt.write_bytes(gzip.compress(corrupt.read_bytes())[:200])  # corrupt file
    rewrite(path_of(root, CASES[2], "t1n"), lambda d: d[:, :, :15])  # shape mismatch
    shifted = nib.load(str(path_of(root, CASES[3], "seg"))).affine.copy()
    shifted[0, 3] += 2.0
    rewrite(path_of(root, CASES[3], "seg"), affine=shifted)  # affine mismatch
    rewrite(path_of(root, CASES[4], "t2f"), lambda d: np.where(d > 0, np.nan, 0).astype(np.float32))  # NaN
    rewrite(path_of(root, CASES[5], "seg"), lambda d: np.where(d == 3, 4, d))  # pre-2023 label 4
    rewrite(path_of(root, CASES[6], "seg"), lambda d: np.zeros_like(d))  # empty case
    return root


EXPECTED = [
    (CASES[0], "t1c", "missing"),
    (CASES[1], "t2w", "corrupt"),
    (CASES[2], "t1n", "shape"),
    (CASES[3], "seg", "affine differs"),
    (CASES[4], "t2f", "NaN/Inf"),
    (CASES[5], "seg", "pre-2023"),
    (CASES[6], "seg", "no foreground"),
]


def test_every_problem_is_reported_once_with_case_and_file(broken_brats):
    report = check_dataset(open_dataset("brats2023", broken_brats))
    assert not report.ok
    for case, modality, what in EXPECTED:
        lines = [line for line in report.problems if f"case {case}:" in line]
        assert len(lines) == 1, lines
        assert str(path_of(broken_brats, case, modality)) in lines[0] and what in lines[0]
    assert not [line for line in report.problems if CASES[7] in line]


def test_check_cli_exit_codes_and_report_file(broken_brats, tmp_path, capsys):
    report_file = tmp_path / "check.txt"
    code = main(
        ["check", "--dataset", "brats2023", "--root", str(broken_brats), "--out", str(report_file), "--workers", "2"]
    )
    assert code == 1
    printed = capsys.readouterr().out
    assert printed == report_file.read_text()
    assert sum(line.startswith("case ") for line in printed.splitlines()) == len(EXPECTED)

    clean = tmp_path / "clean"
    write_synthetic_dataset("aiib", clean, cases=2, size=16)
    assert main(["check", "--dataset", "aiib2023", "--root", str(clean)]) == 0
    assert capsys.readouterr().out.startswith("aiib2023: 2 cases OK")
    assert main(["check", "--dataset", "aiib2023", "--name", "my_airways", "--root", str(clean)]) == 0
    assert capsys.readouterr().out.startswith("my_airways: 2 cases OK")  # a dataset of your own, by its name
    assert main(["check", "--dataset", "brats2023", "--name", "mybrats", "--root", str(broken_brats)]) == 1
    assert capsys.readouterr().out.endswith(f"mybrats: {len(EXPECTED)} problem(s) in {broken_brats}\n")


def test_empty_image_and_non_integer_labels_and_orphan_label(tmp_path):
    root = tmp_path / "raw"
    write_synthetic_dataset("aiib", root, cases=3, size=16)
    rewrite(root / "img" / "AIIB23_0.nii.gz", lambda d: np.zeros_like(d))
    rewrite(root / "gt" / "AIIB23_1.nii.gz", lambda d: d.astype(np.float32) * 0.5)
    (root / "img" / "AIIB23_2.nii.gz").rename(root / "img" / "AIIB23_9.nii.gz")
    report = check_dataset(open_dataset("aiib2023", root))
    text = "\n".join(report.problems)
    assert f"case AIIB23_0: file {root / 'img' / 'AIIB23_0.nii.gz'}: image is empty" in text
    assert f"case AIIB23_1: file {root / 'gt' / 'AIIB23_1.nii.gz'}: label map has non-integer values" in text
    assert f"case AIIB23_2: file {root / 'gt' / 'AIIB23_2.nii.gz'}: label file without an image" in text
    assert f"case AIIB23_9: file {root / 'gt' / 'AIIB23_9.nii.gz'}: missing file" in text


def test_other_commands_stop_with_one_clear_line(broken_brats, tmp_path, capsys):
    split = tmp_path / "split.json"
    assert main(["split", "--dataset", "brats2023", "--root", str(broken_brats), "--out", str(split)]) == 0
    code = main(
        [
            "preprocess",
            "--dataset",
            "brats2023",
            "--root",
            str(broken_brats),
            "--split",
            str(split),
            "--out",
            str(tmp_path / "pre"),
        ]
    )
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("segmamba preprocess: error: case BraTS-GLI-") and "file " in error
