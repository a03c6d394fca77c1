"""Writing predicted label maps as NIfTI files in the original geometry."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np

from segmamba.io_utils import atomic_path


def write_label_map(path: str | os.PathLike, labels: np.ndarray, affine: np.ndarray) -> None:
    """Save an integer label map (X, Y, Z) as uint8 NIfTI with ``affine`` (qform and sform), atomically."""
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"label map must be 3-D (X, Y, Z), got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError(f"label values must lie in 0..255 for uint8, got {labels.min()}..{labels.max()}")
    affine = np.asarray(affine, dtype=np.float64)
    image = nib.Nifti1Image(labels.astype(np.uint8), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    image.header.set_xyzt_units("mm")
    with atomic_path(path) as tmp:
        nib.save(image, tmp)
