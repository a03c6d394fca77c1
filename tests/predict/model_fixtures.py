"""Fixtures of the folder-prediction and bundle tests: finished run folders of tiny models and scans on
rotated, shifted, anisotropic grids in NIfTI and SimpleITK formats."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk
import torch

from segmamba.models import checkpoint as model_checkpoint
from segmamba.train import checkpoint as ckpt

TINY_SEGRESNET = {"init_filters": 8, "blocks_down": [1, 1], "blocks_up": [1]}
CHANNELS = ["t1", "t2"]


def toy_dataset_json(channels=CHANNELS, target_spacing=(1.0, 1.0, 1.0)) -> dict:
    """A preprocessed dataset.json of an MRI dataset with 3 classes."""
    return {
        "name": "toy",
        "modality": "MRI",
        "channel_names": list(channels),
        "label_names": {"0": "bg", "1": "a", "2": "b"},
        "regions": {"a": [1], "ab": [1, 2]},
        "num_classes": 3,
        "format_version": 1,
        "target_spacing": list(target_spacing),
        "normalisation": [{"scheme": "zscore"} for _ in channels],
        "case_ids": ["secret_001"],
        "statistics_case_ids": ["secret_001"],
    }


def make_run_folder(root: Path, name: str, seed: int, channels=CHANNELS, target_spacing=(1.0, 1.0, 1.0), **extra):
    """A finished run folder (checkpoint_final.pt as the trainer writes it: model spec, weights, dataset record,
    settings naming the preprocessed folder) of a randomly initialised tiny SegResNet; ``extra`` goes into the
    checkpoint."""
    dataset_json = toy_dataset_json(channels, target_spacing)
    preprocessed = root / f"{name}_preprocessed"
    preprocessed.mkdir(parents=True)
    (preprocessed / "dataset.json").write_text(json.dumps(dataset_json))
    torch.manual_seed(seed)
    spec = model_checkpoint.model_spec("segresnet", len(channels), 3, (16, 16, 16), TINY_SEGRESNET)
    model = model_checkpoint.build_from_spec(spec)
    fields = ("name", "channel_names", "label_names", "regions", "num_classes")
    run = root / name
    ckpt.save_checkpoint(
        run / ckpt.FINAL,
        {
            "model": spec,
            "state_dict": model.state_dict(),
            "dataset": {key: dataset_json[key] for key in fields},
            "config": {"preprocessed": str(preprocessed), "model": "segresnet", "seed": seed, "epochs": 2},
            "iteration": 4,
            "epoch": 2.0,
            "val_dice": 0.5,
            **extra,
        },
    )
    return run


def rotation(degrees: float) -> np.ndarray:
    """Rotation about the z axis and a small tilt about x: a direction matrix far from the identity."""
    a, b = np.deg2rad(degrees), np.deg2rad(10)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx


def toy_volume(seed: int, shape=(20, 18, 10), channels: int = 2) -> np.ndarray:
    """(C, X, Y, Z) volume: zero border (MRI crop) around noise with a bright blob."""
    rng = np.random.default_rng(seed)
    image = np.zeros((channels, *shape), np.float32)
    image[:, 3:-3, 2:-2, 1:-1] = rng.normal(1, 1, (channels, shape[0] - 6, shape[1] - 4, shape[2] - 2))
    image[:, 8:13, 7:11, 3:7] += 4
    return image


def write_nifti_case(folder: Path, case: str, image: np.ndarray, spacing, origin, degrees=30.0) -> np.ndarray:
    """Write ``<case>_000k.nii.gz``; returns the affine (rotated, shifted, anisotropic)."""
    affine = np.eye(4)
    affine[:3, :3] = rotation(degrees) @ np.diag(spacing)
    affine[:3, 3] = origin
    for channel, data in enumerate(image):
        nib.save(nib.Nifti1Image(data, affine), folder / f"{case}_{channel:04d}.nii.gz")
    return affine


def write_itk_case(folder: Path, case: str, image: np.ndarray, spacing, origin, suffix: str, degrees=-25.0):
    """Write ``<case>_000k<suffix>`` with SimpleITK (arrays are (Z, Y, X) there); returns the direction."""
    direction = tuple(rotation(degrees).ravel())
    for channel, data in enumerate(image):
        volume = sitk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)))
        volume.SetSpacing(tuple(float(s) for s in spacing))
        volume.SetOrigin(tuple(float(o) for o in origin))
        volume.SetDirection(direction)
        sitk.WriteImage(volume, str(folder / f"{case}_{channel:04d}{suffix}"))
    return direction
