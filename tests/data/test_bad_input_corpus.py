"""The bad-input corpus: one kind of damaged nnU-Net raw dataset per case, each reported by `segmamba check`
(or refused when the dataset is opened) with a message that names the file or the dataset.json key.

Every kind starts from the same clean 6-case dataset of 16³ volumes (``hostile_data.write_dataset``), damages
it in one way, and gives the expected fragment of the message and the file or key it must name.
"""

from __future__ import annotations

import gzip
import json

import nibabel as nib
import numpy as np
import pytest
from hostile_data import META, forge_shape, image_path, label_path, save, set_pixdim, write_dataset, write_meta

from segmamba.data.check import check_dataset
from segmamba.data.datasets import open_dataset
from segmamba.errors import InputError


def report_of(root) -> str:
    """What check says about ``root``: the InputError of opening it, or its problem and warning lines."""
    try:
        report = check_dataset(open_dataset("nnunet", root))
    except InputError as exc:
        return str(exc)
    return "\n".join(report.problems + report.warnings)


# ------------------------------------------------------------------------------------------ damages --
def rewrite(path, change=None, affine=None, dtype=None):
    """Rewrite a volume with its data changed and/or another affine or dtype."""
    image = nib.load(str(path))
    data = np.asanyarray(image.dataobj).copy()
    data = change(data) if change else data
    save(path, data.astype(dtype) if dtype else data, image.affine if affine is None else affine)


def with_meta(**changes):
    def damage(root):
        meta = {**META, **changes}
        write_meta(root, {k: v for k, v in meta.items() if v is not None})

    return damage


def set_voxel(value, dtype=None):
    def change(data):
        data = data.astype(dtype or data.dtype)
        data[8, 8, 8] = value
        return data

    return change


def shifted_affine(root):
    affine = np.eye(4)
    affine[0, 3] = 2.0
    rewrite(label_path(root, 1), affine=affine)


def raw_bytes(data: bytes):
    def damage(root):
        image_path(root, 1).write_bytes(data)

    return damage


def truncate(root):
    path = image_path(root, 1)
    path.write_bytes(path.read_bytes()[:200])


def uncompressed_named_gz(root):
    path = image_path(root, 1)
    path.write_bytes(gzip.decompress(path.read_bytes()))


def pixdim(value):
    def damage(root):
        set_pixdim(image_path(root, 1), value)
        set_pixdim(label_path(root, 1), value)

    return damage


def nan_sform(root):
    """srow_x[0] (header bytes 280-283) set to NaN; the sform code stays 1."""
    path = image_path(root, 1)
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[280:284] = np.float32(np.nan).tobytes()
    path.write_bytes(gzip.compress(bytes(raw)))


def non_real(dtype):
    def damage(root):
        nib.save(nib.Nifti1Image(np.zeros((16, 16, 16), dtype), np.eye(4)), str(image_path(root, 1)))

    return damage


def dims(shape):
    def damage(root):
        save(image_path(root, 1), np.ones(shape, np.float32))

    return damage


def write_json_text(text: bytes):
    def damage(root):
        (root / "dataset.json").write_bytes(text)

    return damage


def remove(path_of):
    def damage(root):
        path_of(root).unlink()

    return damage


def extra_file(name, folder="imagesTr"):
    def damage(root):
        (root / folder / name).write_bytes(image_path(root, 0).read_bytes())

    return damage


def empty_images(root):
    for path in (root / "imagesTr").iterdir():
        path.unlink()


def no_images(root):
    empty_images(root)
    (root / "imagesTr").rmdir()


def only_one_case(root):
    for index in range(1, 6):
        image_path(root, index).unlink()
        label_path(root, index).unlink()
    write_meta(root, {**META, "numTraining": 1})


def renamed_ending(root):
    write_meta(root, {**META, "file_ending": ".nii"})


IMAGE_1 = "imagesTr/case_001_0000.nii.gz"
LABEL_1 = "labelsTr/case_001.nii.gz"
JSON = "dataset.json"


def label_change(change, dtype=None):
    return lambda root: rewrite(label_path(root, 1), change, dtype=dtype)


def image_change(change, dtype=None):
    return lambda root: rewrite(image_path(root, 1), change, dtype=dtype)


#: (id, damage, expected fragment, the file (relative to the root) or key the message must name)
KINDS = [
    ("nan-voxels", image_change(set_voxel(np.nan)), "1 NaN/Inf voxels", IMAGE_1),
    ("inf-voxels", image_change(set_voxel(np.inf)), "1 NaN/Inf voxels", IMAGE_1),
    ("all-zero-image", image_change(np.zeros_like), "image is empty", IMAGE_1),
    ("float64-label-1.0000001", label_change(set_voxel(1.0000001, np.float64)), "non-integer values", LABEL_1),
    ("nan-in-float-label", label_change(set_voxel(np.nan, np.float32)), "NaN/Inf voxels in the label map", LABEL_1),
    ("label-value-not-in-json", label_change(set_voxel(2)), "unexpected label values [2]", LABEL_1),
    ("negative-label", label_change(set_voxel(-1, np.int16)), "unexpected label values [-1]", LABEL_1),
    ("uint8-label-255", label_change(set_voxel(255)), "unexpected label values [255]", LABEL_1),
    ("label-without-foreground", label_change(np.zeros_like), "label map has no foreground", LABEL_1),
    ("shape-mismatch", label_change(lambda d: d[:, :, :15]), "shape (16, 16, 15) differs", LABEL_1),
    ("origin-mismatch", shifted_affine, "affine differs from that of", LABEL_1),
    ("4d-image", dims((16, 16, 16, 2)), "expected a 3D volume, got shape (16, 16, 16, 2)", IMAGE_1),
    ("5d-image", dims((16, 16, 16, 1, 1)), "expected a 3D volume", IMAGE_1),
    ("2d-image", dims((16, 16)), "expected a 3D volume, got shape (16, 16)", IMAGE_1),
    ("truncated-gzip", truncate, "corrupt or unreadable NIfTI", IMAGE_1),
    ("zero-byte-file", raw_bytes(b""), "corrupt or unreadable NIfTI", IMAGE_1),
    ("gzip-of-non-nifti", raw_bytes(gzip.compress(b"hello " * 100)), "corrupt or unreadable NIfTI", IMAGE_1),
    ("uncompressed-named-nii.gz", uncompressed_named_gz, "corrupt or unreadable NIfTI", IMAGE_1),
    ("header-bomb-512-cubed", lambda r: forge_shape(image_path(r, 1), (512,) * 3), "but the file holds", IMAGE_1),
    ("nan-spacing", pixdim(np.nan), "[nan, nan, nan] mm is not finite", IMAGE_1),
    ("spacing-1e-6", pixdim(1e-6), "outside the plausible range 0.001 to 1000 mm", IMAGE_1),
    ("spacing-vs-affine", pixdim(2.0), "disagrees with the affine's voxel sizes", IMAGE_1),
    ("nan-in-sform", nan_sform, "disagrees with the affine's voxel sizes [nan", IMAGE_1),
    ("complex-image", non_real(np.complex64), "voxel type complex64 is not supported", IMAGE_1),
    ("rgb-image", non_real(np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")])), "is not supported", IMAGE_1),
    ("missing-label", remove(lambda r: label_path(r, 1)), "missing file", LABEL_1),
    ("label-without-image", remove(lambda r: image_path(r, 1)), "label file without an image", LABEL_1),
    ("extra-channel-file", extra_file("case_000_0001.nii.gz"), "unexpected image file", "case_000_0001.nii.gz"),
    ("json-declares-2-channels", with_meta(channel_names={"0": "CT", "1": "CT"}), "missing file", "_0001.nii.gz"),
    ("hidden-case-file", extra_file("..x_0000.nii.gz"), "hidden file skipped", "imagesTr/..x_0000.nii.gz"),
    ("empty-imagesTr", empty_images, "no nnunet cases found in", "imagesTr"),
    ("no-imagesTr", no_images, "no nnunet cases found in", "imagesTr"),
    ("dataset-too-small", only_one_case, "1 case(s) are too few for the train/val/test split", "fractions 0.7/0.1/0.2"),
    ("no-dataset-json", remove(lambda r: r / JSON), "missing (nnU-Net v2 raw datasets need dataset.json)", JSON),
    ("json-not-utf8", write_json_text(b'{"labels": "\xff"}'), "UnicodeDecodeError", JSON),
    ("json-not-json", write_json_text(b"{labels: 1"), "JSONDecodeError", JSON),
    ("json-top-level-list", write_json_text(b"[1, 2]"), "a JSON object is needed, got a list", JSON),
    ("json-duplicate-key", write_json_text(b'{"labels": {}, "labels": {}}'), "duplicate key(s) ['labels']", JSON),
    ("labels-missing", with_meta(labels=None), "key labels: missing", "labels"),
    ("labels-as-list", with_meta(labels=["background", "tumour"]), "key labels: must be an object", "labels"),
    ("labels-region-based", with_meta(labels={"background": 0, "t": [1, 2]}), "region-based", "labels"),
    ("label-value-string", with_meta(labels={"background": 0, "t": "1"}), "'t' must have an integer value", "labels"),
    ("labels-same-value", with_meta(labels={"bg": 0, "t": 1, "cyst": 1}), "['t', 'cyst'] share the value 1", "labels"),
    ("labels-not-consecutive", with_meta(labels={"background": 0, "t": 2}), "consecutive integers 0..K-1", "labels"),
    ("label-name-markup", with_meta(labels={"background": 0, "<script>": 1}), "holds '<'", "labels"),
    ("label-name-control", with_meta(labels={"background": 0, "l\tr": 1}), "holds '\\t'", "labels"),
    ("label-name-newline", with_meta(labels={"background": 0, "a\nb": 1}), "holds '\\n'", "labels"),
    ("channel-names-missing", with_meta(channel_names=None), "key channel_names: missing", "channel_names"),
    ("channel-name-not-string", with_meta(channel_names={"0": 1}), "must be named by a non-empty string", "0"),
    (
        "channel-keys-0-2",
        with_meta(channel_names={"0": "CT", "2": "CT"}),
        "must be the channel indices",
        "channel_names",
    ),
    ("file-ending-png", with_meta(file_ending=".png"), "'.png' is not supported", "file_ending"),
    ("file-ending-nii-for-nii.gz", renamed_ending, "'.nii', but the files in", "file_ending"),
    ("numTraining-mismatch", with_meta(numTraining=7), "numTraining: 7, but", "6 cases"),
    ("numTraining-string", with_meta(numTraining="6"), "must be a non-negative integer, got '6'", "numTraining"),
]


@pytest.mark.parametrize(("damage", "fragment", "named"), [pytest.param(*k[1:], id=k[0]) for k in KINDS])
def test_each_kind_of_bad_input_is_reported_naming_the_file_or_key(tmp_path, damage, fragment, named):
    root = write_dataset(tmp_path / "raw")
    damage(root)
    text = report_of(root)
    assert fragment in text
    line = next(line for line in text.splitlines() if fragment in line)
    assert named in line or str(root / named) in line  # the same line names the file or the key


def test_the_corpus_holds_at_least_30_distinct_kinds():
    ids = [kind[0] for kind in KINDS]
    assert len(set(ids)) == len(ids) >= 30


def test_the_clean_dataset_of_the_corpus_passes(tmp_path):
    report = check_dataset(open_dataset("nnunet", write_dataset(tmp_path / "raw")))
    assert report.ok and report.num_cases == 6
    assert json.loads((tmp_path / "raw" / JSON).read_text())["numTraining"] == 6
