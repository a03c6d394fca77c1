"""Ground-truth label maps of a split subset in the original geometry, for evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segmamba.data.datasets import open_dataset
from segmamba.data.nifti import write_volume
from segmamba.data.split import SPLIT_KEYS, load_split, verify_split
from segmamba.errors import InputError


def export_ground_truth(name: str, root, split_path, subset: str, out, known=None) -> list[str]:
    """Write ``out/<case>.nii.gz`` (uint8 labels, original affine) for every case of ``subset`` (``known``: an
    nnU-Net dataset's (file ending, info) from its dataset file, see ``open_dataset``)."""
    if subset not in SPLIT_KEYS:
        raise InputError(f"unknown subset {subset!r}; choose one of {', '.join(SPLIT_KEYS)}")
    dataset = open_dataset(name, root, known=known)
    split = load_split(split_path)
    verify_split(split, dataset.case_ids(), source=f"split file {split_path}")
    if not split[subset]:
        raise InputError(f"split file {split_path}: the {subset} subset is empty (nothing to evaluate)")
    Path(out).mkdir(parents=True, exist_ok=True)
    for case_id in split[subset]:
        case = dataset.load_case(case_id)
        write_volume(Path(out) / f"{case_id}.nii.gz", case.label.astype(np.uint8), case.affine)
    return list(split[subset])
