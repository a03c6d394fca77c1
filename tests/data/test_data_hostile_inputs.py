"""Headers are checked before any voxel is read: a forged size, a voxel cap, an implausible or inconsistent
spacing are problems of `segmamba check` naming case, file and value, and preprocess's reader refuses them."""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
import tracemalloc

import nibabel as nib
import numpy as np
import pytest
from hostile_data import case_id, forge_shape, image_path, label_path, save, set_pixdim, write_dataset

from segmamba.data.check import check_dataset
from segmamba.data.datasets import open_dataset
from segmamba.data.nifti import VolumeReadError, read_volume
from segmamba.errors import InputError


def test_a_66_byte_file_claiming_512_cubed_voxels_fails_without_allocating(tmp_path):
    root = write_dataset(tmp_path / "raw")
    bomb = image_path(root, 0)
    forge_shape(bomb, (512, 512, 512))
    assert bomb.stat().st_size == 66
    tracemalloc.start()
    report = check_dataset(open_dataset("mine", root))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 2**20  # the declared array alone is 512 MiB
    assert report.problems == [
        f"case case_000: file {bomb}: header declares shape (512, 512, 512) of float32 (536871264 bytes with "
        "the header), but the file holds at most 68112 bytes (truncated, or a forged header)"
    ]


def test_the_cli_check_of_a_bomb_stays_small_in_a_fresh_process(tmp_path):
    root = write_dataset(tmp_path / "raw", cases=2)
    forge_shape(image_path(root, 1), (2000, 2000, 2000))
    # The child reports its own peak: RUSAGE_CHILDREN would be the largest of every child this session waited for.
    command = (
        "import resource, sys; from segmamba.cli import main; code = main(sys.argv[1:]);"
        " print('peak-kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(code)"
    )
    args = ["check", "--dataset", "nnunet", "--root", str(root)]
    result = subprocess.run([sys.executable, "-c", command, *args], capture_output=True, text=True, timeout=120)
    peak_mib = int(result.stderr.split("peak-kib")[-1].split()[0]) / 1024
    assert result.returncode == 1
    assert f"case case_001: file {image_path(root, 1)}: header declares shape (2000, 2000, 2000)" in result.stdout
    assert peak_mib < 1000  # 2000³ float32 would be 30 GiB; torch-free imports take ~100 MiB


def test_a_forged_uncompressed_header_is_compared_with_the_file_size(tmp_path):
    path = tmp_path / "small.nii"
    nib.save(nib.Nifti1Image(np.ones((16, 16, 16), np.int16), np.eye(4)), str(path))
    raw = bytearray(path.read_bytes())
    raw[42:48] = np.array([32, 32, 32], "<i2").tobytes()  # dim[1:4]
    path.write_bytes(bytes(raw))
    with pytest.raises(VolumeReadError, match=r"shape \(32, 32, 32\) of int16 \(65888 bytes .*holds 8544 bytes"):
        read_volume(path)


def test_a_valid_multi_member_gzip_file_is_read(tmp_path):
    """Its ISIZE trailer counts only the last member: the size is then counted by streaming."""
    path = tmp_path / "two_members.nii.gz"
    save(path, np.arange(16**3, dtype=np.float32).reshape((16,) * 3))
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]))
    data, _, spacing = read_volume(path)
    assert data[15, 15, 15] == 16**3 - 1 and spacing == (1.0, 1.0, 1.0)


def test_the_voxel_cap_is_configurable(tmp_path):
    path = tmp_path / "v.nii.gz"
    save(path, np.ones((16, 16, 16), np.float32))
    with pytest.raises(VolumeReadError, match=r"shape \(16, 16, 16\) = 4096 voxels, above the limit of 4000"):
        read_volume(path, max_voxels=4000)
    assert read_volume(path, max_voxels=4096)[0].shape == (16, 16, 16)


@pytest.mark.parametrize(
    ("pixdim", "message"),
    [
        (float("nan"), r"voxel spacing \(pixdim\) \[nan, nan, nan\] mm is not finite"),
        (1e-6, r"\[1e-06, 1e-06, 1e-06\] mm is outside the plausible range 0.001 to 1000 mm"),
        (5e3, r"\[5000.0, 5000.0, 5000.0\] mm is outside the plausible range"),
        (2.0, r"\[2.0, 2.0, 2.0\] mm disagrees with the affine's voxel sizes \[1.0, 1.0, 1.0\] mm"),
    ],
)
def test_bad_spacing_is_reported_by_check_and_refused_by_preprocess(tmp_path, pixdim, message):
    root = write_dataset(tmp_path / "raw")
    for path in (image_path(root, 2), label_path(root, 2)):
        set_pixdim(path, pixdim)
    dataset = open_dataset("mine", root)
    report = check_dataset(dataset)
    assert len(report.problems) == 2
    assert report.problems[0].startswith(f"case case_002: file {image_path(root, 2)}: ")
    assert all(re.search(message, line) for line in report.problems)
    with pytest.raises(InputError, match=rf"^case {case_id(2)}: file .*: .*{message}"):
        dataset.load_case(case_id(2))  # the reader of preprocess


def test_zero_and_negative_pixdim_are_repaired_by_nibabel_and_accepted(tmp_path):
    root = write_dataset(tmp_path / "raw", cases=2)
    set_pixdim(image_path(root, 0), 0.0)
    set_pixdim(label_path(root, 1), -1.0)
    assert check_dataset(open_dataset("mine", root)).ok


@pytest.mark.parametrize(
    ("dtype", "name"), [(np.complex64, "complex64"), (np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")]), "RGB")]
)
def test_non_real_voxel_types_are_problems_naming_the_type(tmp_path, dtype, name):
    path = tmp_path / "x.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), dtype), np.eye(4)), str(path))
    with pytest.raises(VolumeReadError, match=r"voxel type .* is not supported \(real numbers only"):
        read_volume(path)


def test_ground_truth_of_an_empty_subset_is_an_error_naming_the_split(tmp_path):
    """Writing no label map and exiting 0 would pass an empty test set on to evaluation."""
    from segmamba.data.split import write_split
    from segmamba.evaluate.ground_truth import export_ground_truth

    root = write_dataset(tmp_path / "raw", cases=2)
    split_path = tmp_path / "split.json"
    write_split(split_path, ["case_000", "case_001"], seed=42)  # 2 cases: 1 train, 0 val, 1 test
    with pytest.raises(InputError, match=rf"split file {split_path}: the val subset is empty"):
        export_ground_truth("nnunet", root, split_path, "val", tmp_path / "gt")
    assert not (tmp_path / "gt").exists()
