"""A small real nnU-Net v2 raw dataset for trying the workflow on data the synthetic generators did not make.

Builds brain-tissue segmentation cases (1 = grey matter, 2 = white matter, one T1 channel, 2 mm) from the
MNI152 2009a symmetric template that the nilearn wheel ships in ``nilearn/datasets/data/``
(``mni_icbm152_{t1,gm,wm}_tal_nlin_sym_09a_converted.nii.gz``; nilearn is not a dependency of this package:
``pip download --no-deps nilearn`` and unzip it, or ``pip install nilearn``). A label is where its tissue
probability is at least 0.5 and the larger of the two.

The template is one volume, so the cases are 12 non-overlapping blocks of it: the brain's bounding box cut
into 4 (anterior-posterior) x 3 (inferior-superior) slabs, each spanning both hemispheres (a left/right cut
would put mirror images of one another into train and test, the template being symmetric). Each block keeps
its place in the template's world coordinates (its own affine).

    python benchmarks/mni152_dataset.py OUT_DIR [--data NILEARN_DATA_DIR]

then point a config entry at it (docs/your-own-dataset.md):
``mni152_tissue: {activate: true, format: nnunet, root: OUT_DIR}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import nibabel as nib
import numpy as np

TEMPLATE = "mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"
FACTOR = 2  # 1 mm -> 2 mm
SLABS = (4, 3)  # along y (anterior-posterior) and z (inferior-superior)


def block_mean(volume: np.ndarray, factor: int = FACTOR) -> np.ndarray:
    """Mean over non-overlapping factor^3 blocks (the edges cropped to a multiple of ``factor``)."""
    shape = [s - s % factor for s in volume.shape]
    cropped = volume[: shape[0], : shape[1], : shape[2]].astype(np.float32)
    return cropped.reshape([n for s in shape for n in (s // factor, factor)]).mean(axis=(1, 3, 5))


def nilearn_data_dir() -> Path:
    """``nilearn/datasets/data`` of an installed nilearn."""
    import nilearn

    return Path(nilearn.__file__).parent / "datasets" / "data"


def write_dataset(data: Path, out: Path) -> int:
    """Write dataset.json, imagesTr/ and labelsTr/ to ``out``; returns the number of cases."""
    image = nib.load(str(data / TEMPLATE.format("t1")))
    t1, gm, wm = (
        block_mean(np.asanyarray(nib.load(str(data / TEMPLATE.format(k))).dataobj)) for k in ("t1", "gm", "wm")
    )
    gm, wm = gm / 255.0, wm / 255.0
    label = np.zeros(t1.shape, np.uint8)
    label[(gm >= 0.5) & (gm >= wm)] = 1
    label[(wm >= 0.5) & (wm > gm)] = 2
    affine = image.affine.copy()
    affine[:3, :3] *= FACTOR
    brain = np.argwhere(label > 0)
    lo, hi = brain.min(0), brain.max(0) + 1
    y_edges = np.linspace(lo[1], hi[1], SLABS[0] + 1).round().astype(int)
    z_edges = np.linspace(lo[2], hi[2], SLABS[1] + 1).round().astype(int)
    (out / "imagesTr").mkdir(parents=True, exist_ok=True)
    (out / "labelsTr").mkdir(exist_ok=True)
    cases = 0
    for i in range(SLABS[0]):
        for j in range(SLABS[1]):
            corner = np.array([lo[0], y_edges[i], z_edges[j]])
            box = tuple(slice(a, b) for a, b in zip(corner, (hi[0], y_edges[i + 1], z_edges[j + 1]), strict=True))
            block_affine = affine.copy()
            block_affine[:3, 3] = affine[:3, :3] @ corner + affine[:3, 3]
            case = f"mni_y{i}_z{j}"
            nib.save(nib.Nifti1Image(t1[box], block_affine), str(out / "imagesTr" / f"{case}_0000.nii.gz"))
            nib.save(nib.Nifti1Image(label[box], block_affine), str(out / "labelsTr" / f"{case}.nii.gz"))
            cases += 1
    meta = {
        "name": "MNI152Tissue",
        "description": "Blocks of the MNI152 2009a symmetric template (as shipped by nilearn), grey/white matter, 2 mm",
        "channel_names": {"0": "T1"},
        "labels": {"background": 0, "grey matter": 1, "white matter": 2},
        "numTraining": cases,
        "file_ending": ".nii.gz",
    }
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="dataset folder to write (e.g. Dataset900_MNI152Tissue)")
    parser.add_argument("--data", type=Path, help="nilearn's datasets/data folder (default: the installed nilearn's)")
    args = parser.parse_args()
    cases = write_dataset(args.data or nilearn_data_dir(), args.out)
    print(f"wrote {cases} cases to {args.out}")


if __name__ == "__main__":
    main()
