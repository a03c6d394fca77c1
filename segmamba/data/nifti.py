"""Reading and writing NIfTI volumes with nibabel (deterministic gzip output, atomic writes)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from segmamba.data.nifti_header import DEFAULT_MAX_VOXELS, HeaderError, check_header
from segmamba.io_utils import atomic_path


class VolumeReadError(Exception):
    """A NIfTI file that is missing, unreadable or not a 3D volume (message says which)."""


def read_volume(
    path: Path, dtype=np.float32, max_voxels: int = DEFAULT_MAX_VOXELS
) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Read a 3D NIfTI volume, after checking its header (:func:`~segmamba.data.nifti_header.check_header`).

    Returns:
        (array in nibabel voxel order cast to ``dtype`` (``None`` keeps the stored type), affine 4x4,
        spacing in mm rounded to 1e-5).

    Raises:
        VolumeReadError: file missing, corrupt, not 3D (a trailing singleton 4th axis is dropped), of a
            non-real voxel type, declaring more voxels than ``max_voxels`` or than the file holds, or with an
            implausible spacing or one that disagrees with the affine. The message is one line.
    """
    path = Path(path)
    if not path.is_file():
        raise VolumeReadError("missing file")
    try:
        image = nib.load(str(path))  # the header only; no voxel is read yet
        check_header(path, image.header, image.affine, max_voxels)
        data = np.asanyarray(image.dataobj)
    except HeaderError as exc:
        raise VolumeReadError(str(exc)) from exc
    except Exception as exc:  # nibabel raises many types for truncated or foreign files
        raise VolumeReadError(_one_line(f"corrupt or unreadable NIfTI ({type(exc).__name__}: {exc})")) from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    spacing = tuple(round(float(z), 5) for z in image.header.get_zooms()[:3])  # headers store float32
    return data, np.asarray(image.affine, dtype=np.float64), spacing


def _one_line(message: str) -> str:
    """``message`` with its line breaks replaced by spaces (one problem, one line)."""
    return " ".join(message.split())


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
