"""Checks of a NIfTI header before any voxel is read: shape, voxel type, declared size and spacing.

nibabel allocates the declared array size before it reads a compressed file, so a 66-byte file whose
header claims 512³ float32 voxels would allocate 512 MiB. Here the declared size is compared with what the
file can hold (its size for ``.nii``; for gzip the ISIZE trailer, the 1032:1 ceiling of deflate, or a bounded
streaming count) and with a voxel cap. The spacing must be finite, plausible and that of the affine.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

#: Default cap on the voxels of one volume (2^30, 4 GiB as float32; a 512 x 512 x 1000 CT has 2.6e8).
DEFAULT_MAX_VOXELS = 2**30

#: Plausible voxel spacing in mm (a micro-CT voxel is ~1e-3 mm; 1000 mm is a whole body in one voxel).
SPACING_RANGE_MM = (1e-3, 1e3)

#: Relative tolerance between the header's spacing (pixdim) and the affine's column norms.
SPACING_AFFINE_RTOL = 1e-3

#: The largest expansion of deflate (RFC 1951: 258 bytes per 2 bits, about 1032:1).
DEFLATE_MAX_RATIO = 1032

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_BYTES = 1 << 20


class HeaderError(Exception):
    """A header that cannot describe a readable 3D volume (the message gives the offending value)."""


def volume_shape(header) -> tuple[int, ...]:
    """The header's 3D shape (a trailing singleton 4th axis dropped); HeaderError for any other shape."""
    shape = tuple(int(s) for s in header.get_data_shape())
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise HeaderError(f"expected a 3D volume, got shape {shape}")
    return shape


def check_header(path: Path, header, affine: np.ndarray, max_voxels: int = DEFAULT_MAX_VOXELS) -> None:
    """Raise HeaderError when the header's shape, voxel type, declared size or spacing is unusable.

    Args:
        path: the file (its size bounds the voxels it can hold).
        header: its nibabel header (read without reading any voxel).
        affine: its voxel-to-world matrix (the spacing must be its column norms).
        max_voxels: the largest number of voxels accepted.
    """
    shape = volume_shape(header)
    dtype = np.dtype(header.get_data_dtype())
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise HeaderError(f"voxel type {dtype} is not supported (real numbers only: integer or float)")
    voxels = math.prod(header.get_data_shape())
    if voxels > max_voxels:
        raise HeaderError(
            f"header declares shape {shape} = {voxels} voxels, above the limit of {max_voxels} (--max-voxels)"
        )
    # a single-file NIfTI's voxels start at vox_offset, at least after the header (352 bytes for NIfTI-1)
    offset = max(int(header.get_data_offset()), int(getattr(header, "single_vox_offset", 0)))
    needed = offset + voxels * dtype.itemsize
    held, bound = _bytes_held(Path(path), needed)
    if held < needed:
        raise HeaderError(
            f"header declares shape {shape} of {dtype} ({needed} bytes with the header), but the file holds "
            f"{'at most ' if bound else ''}{held} bytes (truncated, or a forged header)"
        )
    _check_spacing(header, affine)


def _bytes_held(path: Path, needed: int) -> tuple[int, bool]:
    """(the uncompressed bytes ``path`` holds, or ``needed`` once that many are known to be there; whether the
    number is only an upper bound)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        compressed = handle.read(2) == GZIP_MAGIC
        if not compressed:
            return size, False
        handle.seek(max(size - 4, 0))
        trailer_size = int.from_bytes(handle.read(4), "little")  # ISIZE: uncompressed size modulo 2^32
    if size * DEFLATE_MAX_RATIO < needed:
        return size * DEFLATE_MAX_RATIO, True
    if needed < 2**32 and trailer_size >= needed:
        return needed, False
    return _count_uncompressed(path, needed), False  # several gzip members, or over 4 GiB: count, in bounded memory


def _count_uncompressed(path: Path, needed: int) -> int:
    total = 0
    try:
        with gzip.open(path, "rb") as stream:
            while total < needed:
                chunk = stream.read(CHUNK_BYTES)
                if not chunk:
                    break
                total += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise HeaderError(f"corrupt gzip stream ({type(exc).__name__}: {exc})") from exc
    return min(total, needed)


def _check_spacing(header, affine: np.ndarray) -> None:
    zooms = np.asarray(header.get_zooms()[:3], dtype=np.float64)
    shown = [float(f"{z:.6g}") for z in zooms]
    low, high = SPACING_RANGE_MM
    if not np.all(np.isfinite(zooms)):
        raise HeaderError(f"voxel spacing (pixdim) {shown} mm is not finite")
    if np.any(zooms < low) or np.any(zooms > high):
        raise HeaderError(f"voxel spacing (pixdim) {shown} mm is outside the plausible range {low:g} to {high:g} mm")
    norms = np.linalg.norm(np.asarray(affine, dtype=np.float64)[:3, :3], axis=0)
    if not np.allclose(norms, zooms, rtol=SPACING_AFFINE_RTOL, atol=1e-6):
        raise HeaderError(
            f"voxel spacing (pixdim) {shown} mm disagrees with the affine's voxel sizes "
            f"{[round(float(n), 6) for n in norms]} mm (qform/sform)"
        )
