"""Reading scans and writing label maps in the input's own file format and geometry.

NIfTI (``.nii``, ``.nii.gz``) goes through nibabel, like the training data (:mod:`segmamba.data.nifti`);
MetaImage (``.mha``) and NRRD (``.nrrd``) through SimpleITK. Arrays are always (X, Y, Z) in the file's voxel
index order (SimpleITK's (Z, Y, X) arrays are transposed), so a model sees every format the same way. A
label map is written with the input's format and geometry: the NIfTI affine (qform and sform), or the ITK
origin, spacing and direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segmamba.errors import InputError

NIFTI_SUFFIXES = (".nii.gz", ".nii")
ITK_SUFFIXES = (".mha", ".nrrd")
SUFFIXES = NIFTI_SUFFIXES + ITK_SUFFIXES
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def split_suffix(name: str) -> tuple[str, str] | None:
    """``(stem, suffix)`` of a file name with a supported image suffix, None otherwise."""
    for suffix in SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], suffix
    return None


@dataclass
class Geometry:
    """Where an image lies: voxel grid shape, spacing (mm), RAS affine, and the ITK header for .mha/.nrrd."""

    suffix: str
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    affine: np.ndarray
    itk_origin: tuple[float, ...] | None = None
    itk_direction: tuple[float, ...] | None = None

    def same_grid(self, other: Geometry) -> bool:
        """Whether ``other`` has the same shape and voxel-to-world mapping (to 1e-4 mm)."""
        return self.shape == other.shape and np.allclose(self.affine, other.affine, atol=1e-4)


def read_image(path: Path) -> tuple[np.ndarray, Geometry]:
    """A 3-D scan as a float32 (X, Y, Z) array and its geometry; InputError names the file on failure."""
    from segmamba.data.nifti import VolumeReadError, read_volume

    parts = split_suffix(path.name)
    if parts is None:
        raise InputError(f"{path}: not a supported image ({', '.join(SUFFIXES)})")
    suffix = parts[1]
    if suffix in NIFTI_SUFFIXES:
        try:
            data, affine, spacing = read_volume(path)
        except VolumeReadError as exc:
            raise InputError(f"{path}: {exc}") from exc
        return data, Geometry(suffix, tuple(int(s) for s in data.shape), tuple(spacing), affine)
    return read_itk_image(path, suffix)


def read_itk_image(path: Path, suffix: str) -> tuple[np.ndarray, Geometry]:
    """Read a .mha/.nrrd scan with SimpleITK (see :func:`read_image`)."""
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(f"{path}: unreadable image ({str(exc).strip().splitlines()[-1]})") from exc
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"{path}: expected a 3-D single-component image, got {image.GetDimension()}-D with "
            f"{image.GetNumberOfComponentsPerPixel()} component(s); give one file per channel"
        )
    data = np.ascontiguousarray(sitk.GetArrayFromImage(image).transpose(2, 1, 0), dtype=np.float32)
    spacing = tuple(float(s) for s in image.GetSpacing())
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = LPS_TO_RAS @ direction @ np.diag(spacing)
    affine[:3, 3] = LPS_TO_RAS @ np.asarray(image.GetOrigin(), dtype=np.float64)
    geometry = Geometry(
        suffix, tuple(int(s) for s in data.shape), spacing, affine, image.GetOrigin(), image.GetDirection()
    )
    return data, geometry


def write_labels(path: Path, labels: np.ndarray, geometry: Geometry) -> None:
    """Write a uint8 (X, Y, Z) label map in the geometry and format of the input it was predicted from."""
    from segmamba.io_utils import atomic_path
    from segmamba.predict.predictor import write_label_map

    if tuple(labels.shape) != geometry.shape:
        raise ValueError(f"label map of shape {labels.shape} does not match the input's {geometry.shape}")
    if geometry.suffix in NIFTI_SUFFIXES:
        write_label_map(path, labels, geometry.affine)
        return
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(labels.astype(np.uint8).transpose(2, 1, 0)))
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.itk_origin)
    image.SetDirection(geometry.itk_direction)
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)
