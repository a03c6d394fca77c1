"""Reading and writing NIfTI volumes with nibabel (deterministic gzip output, atomic writes)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from segmamba.io_utils import atomic_path


class VolumeReadError(Exception):
    """A NIfTI file that is missing, unreadable or not a 3D volume (message says which)."""


def read_volume(path: Path, dtype=np.float32) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Read a 3D NIfTI volume.

    Returns:
        (array in nibabel voxel order cast to ``dtype`` (``None`` keeps the stored type), affine 4x4,
        spacing in mm rounded to 1e-5).

    Raises:
        VolumeReadError: file missing, corrupt, or not 3D (a trailing singleton 4th axis is dropped).
    """
    path = Path(path)
    if not path.is_file():
        raise VolumeReadError("missing file")
    try:
        image = nib.load(str(path))
        data = np.asanyarray(image.dataobj)
    except Exception as exc:  # nibabel raises many types for truncated or foreign files
        raise VolumeReadError(f"corrupt or unreadable NIfTI ({type(exc).__name__}: {exc})") from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise VolumeReadError(f"expected a 3D volume, got shape {tuple(data.shape)}")
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    spacing = tuple(round(float(z), 5) for z in image.header.get_zooms()[:3])  # headers store float32
    return data, np.asarray(image.affine, dtype=np.float64), spacing


def write_volume(path: Path, data: np.ndarray, affine: np.ndarray) -> None:
    """Write ``data`` as a NIfTI file atomically; gzip output is byte-deterministic (nibabel uses mtime 0).

    Args:
        path: target (``.nii.gz`` or ``.nii``).
        data: 3D array; its dtype is stored as is.
        affine: voxel-to-world matrix (also sets the header zooms, i.e. the spacing).
    """
    image = nib.Nifti1Image(data, affine)
    image.header.set_xyzt_units("mm", "sec")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    with atomic_path(path) as tmp:
        nib.save(image, str(tmp))
