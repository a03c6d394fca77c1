"""Helpers of the hostile-input tests (no tests here): a tiny nnU-Net raw dataset and ways to damage it."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import nibabel as nib
import numpy as np

SIZE = 16
META = {
    "channel_names": {"0": "CT"},
    "labels": {"background": 0, "tumour": 1},
    "numTraining": 6,
    "file_ending": ".nii.gz",
}


def case_id(index: int) -> str:
    return f"case_{index:03d}"


def image_path(root: Path, index: int, channel: int = 0) -> Path:
    return root / "imagesTr" / f"{case_id(index)}_{channel:04d}.nii.gz"


def label_path(root: Path, index: int) -> Path:
    return root / "labelsTr" / f"{case_id(index)}.nii.gz"


def save(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> None:
    """Save ``data`` with qform and sform set to ``affine`` (identity by default)."""
    affine = np.eye(4) if affine is None else affine
    image = nib.Nifti1Image(data, affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, str(path))


def write_dataset(root: Path, cases: int = 6, meta: dict | None = None) -> Path:
    """``cases`` one-channel CT cases of 16³ voxels, each with a cube of label 1, and their dataset.json."""
    rng = np.random.default_rng(0)
    for index in range(cases):
        label = np.zeros((SIZE,) * 3, np.uint8)
        label[4:10, 5:11, 3:9] = 1
        save(image_path(root, index), (rng.normal(0, 1, label.shape) + 3 * label + 1).astype(np.float32))
        save(label_path(root, index), label)
    write_meta(root, {**META, "numTraining": cases, **(meta or {})})
    return root


def write_meta(root: Path, meta) -> None:
    (root / "dataset.json").write_text(json.dumps(meta))


def set_pixdim(path: Path, value: float) -> None:
    """Overwrite pixdim[1:4] (bytes 80-91 of the header) with ``value``; the sform stays the identity."""
    data = np.asanyarray(nib.load(str(path)).dataobj)
    image = nib.Nifti1Image(data, np.eye(4))
    image.set_qform(None, code=0)
    image.set_sform(np.eye(4), code=1)
    nib.save(image, str(path))
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[80:92] = np.full(3, value, np.float32).tobytes()
    path.write_bytes(gzip.compress(bytes(raw)))


def forge_shape(path: Path, shape: tuple[int, ...]) -> None:
    """Replace ``path`` by a gzip of a header claiming ``shape`` float32 voxels and 36 zero bytes (66 bytes)."""
    header = nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4)).header.copy()
    header.set_data_shape(shape)
    path.write_bytes(gzip.compress(header.binaryblock + b"\0" * 36))
