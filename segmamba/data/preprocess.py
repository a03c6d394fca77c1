"""nnU-Net-style preprocessing: crop to non-zero (MRI), normalise, resample to the target spacing.

Order per case (as in the published code): crop -> normalise -> resample.
- MRI: crop to the hole-filled union of non-zero voxels over channels; z-score per channel over the
  cropped box (background included, no clipping).
- CT: no crop; clip to the 0.5/99.5 percentiles of foreground intensities of the training cases, then
  z-score with their foreground mean and std.
- Resampling to the target spacing (default: median spacing of the training cases; BraTS: 1 mm): order 3
  for images, linear on the one-hot label followed by argmax for labels. Skipped where the shape would not
  change, so a prediction maps back exactly.

Outputs per case: ``image.npy`` (float32, C,X,Y,Z), ``label.npy`` (int8, 1,X,Y,Z), ``fg_locations.npy``
(int32 rows ``class, x, y, z``: up to 10,000 sampled voxels per foreground class, for oversampling) and
``properties.json``. Plus ``dataset.json`` and ``fingerprint.json`` for the whole folder.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.transform import resize

from segmamba.data.datasets import Dataset, open_dataset
from segmamba.data.nifti_header import DEFAULT_MAX_VOXELS
from segmamba.data.parallel import map_cases
from segmamba.data.registry import DATASETS
from segmamba.data.split import SPLIT_KEYS, load_split, verify_split
from segmamba.errors import InputError
from segmamba.io_utils import atomic_path, remove_stale_temporaries, write_json_atomic

FORMAT_VERSION = 1
FOREGROUND_SAMPLES_PER_CASE = 10_000
LOCATIONS_PER_CLASS = 10_000


# ------------------------------------------------------------ geometry --
def nonzero_crop_box(image: np.ndarray) -> list[list[int]]:
    """Tight box [[lo, hi), ...] around the hole-filled union of non-zero voxels of a (C, X, Y, Z) image."""
    mask = ndimage.binary_fill_holes(np.any(image != 0, axis=0))
    if not mask.any():
        return [[0, int(s)] for s in image.shape[1:]]
    box = []
    for axis in range(3):
        present = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        box.append([int(present[0]), int(present[-1]) + 1])
    return box


def target_shape(shape, spacing, target_spacing) -> list[int]:
    """Shape after resampling from ``spacing`` to ``target_spacing`` (rounded, at least 1)."""
    return [max(1, int(round(s * sp / t))) for s, sp, t in zip(shape, spacing, target_spacing, strict=True)]


def resample_channels(data: np.ndarray, new_shape, order: int) -> np.ndarray:
    """Resize each channel of (C, X, Y, Z) ``data`` to ``new_shape`` with spline ``order`` (no-op if equal)."""
    if tuple(data.shape[1:]) == tuple(new_shape):
        return data.astype(np.float32, copy=False)
    return np.stack(
        [
            resize(
                channel.astype(np.float32),
                new_shape,
                order=order,
                mode="edge",
                anti_aliasing=False,
                preserve_range=True,
            )
            for channel in data
        ]
    ).astype(np.float32)


def resample_label(label: np.ndarray, new_shape, num_classes: int) -> np.ndarray:
    """Resample a label map linearly on its one-hot encoding, then argmax (no-op if the shape is equal)."""
    if tuple(label.shape) == tuple(new_shape):
        return label
    one_hot = np.stack([label == c for c in range(num_classes)]).astype(np.float32)
    return np.argmax(resample_channels(one_hot, new_shape, order=1), axis=0).astype(label.dtype)


# -------------------------------------------------------- normalisation --
def normalise(image: np.ndarray, normalisation: list[dict]) -> np.ndarray:
    """Normalise each channel: ``zscore`` with its own statistics, or ``ct`` with the stored ones."""
    out = np.empty(image.shape, np.float32)
    for c, params in enumerate(normalisation):
        channel = image[c].astype(np.float32)
        if params["scheme"] == "ct":
            channel = np.clip(channel, params["lower"], params["upper"])
            out[c] = (channel - params["mean"]) / max(params["std"], 1e-8)
        else:
            out[c] = (channel - channel.mean()) / max(float(channel.std()), 1e-8)
    return out


def intensity_stats(values: np.ndarray) -> dict:
    """mean, std, min, max and 0.5/99.5 percentiles of ``values`` (zeros when empty)."""
    if values.size == 0:
        return {k: 0.0 for k in ("mean", "std", "min", "max", "percentile_00_5", "percentile_99_5")}
    values = values.astype(np.float64)
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
        "percentile_00_5": float(np.percentile(values, 0.5)),
        "percentile_99_5": float(np.percentile(values, 99.5)),
    }


# --------------------------------------------------------- single image --
def preprocess_image(image: np.ndarray, affine: np.ndarray, spacing, dataset_json: dict) -> tuple[np.ndarray, dict]:
    """Preprocess one (C, X, Y, Z) image like the training cases, with the stored normalisation parameters.

    Returns:
        (float32 image on the target grid, properties for :func:`restore_to_original`).
    """
    if image.ndim != 4 or image.shape[0] != len(dataset_json["normalisation"]):
        raise InputError(
            f"image of shape {image.shape} does not match the {len(dataset_json['normalisation'])} "
            "channels of the preprocessed dataset"
        )
    box = nonzero_crop_box(image) if dataset_json["modality"] == "MRI" else [[0, int(s)] for s in image.shape[1:]]
    cropped = image[(slice(None), *(slice(lo, hi) for lo, hi in box))]
    normalised = normalise(cropped, dataset_json["normalisation"])
    new_shape = target_shape(cropped.shape[1:], spacing, dataset_json["target_spacing"])
    properties = {
        "original_shape": [int(s) for s in image.shape[1:]],
        "original_spacing": [float(s) for s in spacing],
        "affine": np.asarray(affine, dtype=float).tolist(),
        "crop_box": box,
        "cropped_shape": [int(s) for s in cropped.shape[1:]],
        "resampled_shape": new_shape,
        "target_spacing": list(dataset_json["target_spacing"]),
    }
    return resample_channels(normalised, new_shape, order=3), properties


def restore_to_original(scores, properties: dict) -> np.ndarray:
    """Map class scores (K, x, y, z) on the preprocessed grid to a label map on the original grid.

    Resamples the scores linearly to the cropped shape, takes the argmax and un-crops (zeros outside).
    ``scores`` may be a numpy array or a torch tensor (probabilities or logits).
    """
    if hasattr(scores, "detach"):
        scores = scores.detach().float().cpu().numpy()
    scores = np.asarray(scores, dtype=np.float32)
    if list(scores.shape[1:]) != list(properties["resampled_shape"]):
        raise ValueError(f"scores of shape {scores.shape} do not match resampled_shape {properties['resampled_shape']}")
    labels = np.argmax(resample_channels(scores, properties["cropped_shape"], order=1), axis=0)
    restored = np.zeros(properties["original_shape"], np.uint8)
    restored[tuple(slice(lo, hi) for lo, hi in properties["crop_box"])] = labels
    return restored


# ------------------------------------------------------------- dataset --
def fingerprint_case(dataset: Dataset, case_id: str) -> dict:
    """Spacing, shape and foreground intensity samples (up to 10,000 per channel, seeded) of one case."""
    case = dataset.load_case(case_id)
    foreground = case.label > 0
    rng = np.random.default_rng(1234)
    samples = []
    for channel in case.image:
        values = channel[foreground]
        if values.size > FOREGROUND_SAMPLES_PER_CASE:
            values = rng.choice(values, FOREGROUND_SAMPLES_PER_CASE, replace=False)
        samples.append(values.astype(np.float32))
    return {
        "case_id": case_id,
        "spacing": [float(s) for s in case.spacing],
        "shape": [int(s) for s in case.image.shape[1:]],
        "samples": samples,
    }


def plan_dataset(dataset: Dataset, split: dict, fingerprints: list[dict], target_spacing=None) -> tuple[dict, dict]:
    """Build the preprocessed ``dataset.json`` and ``fingerprint.json`` contents from the case fingerprints.

    Statistics (median spacing, CT foreground intensities) come from the training cases, or from all cases
    of the split when the training subset is empty.
    """
    stats_ids = set(split["train"]) or {c for key in SPLIT_KEYS for c in split[key]}
    stats = [f for f in fingerprints if f["case_id"] in stats_ids]
    median_spacing = [float(s) for s in np.median([f["spacing"] for f in stats], axis=0)]
    if target_spacing is None:
        definition = DATASETS.get(dataset.info.name)
        target_spacing = (definition and definition.target_spacing) or median_spacing
    channel_stats = [
        intensity_stats(np.concatenate([f["samples"][c] for f in stats]))
        for c in range(len(dataset.info.channel_names))
    ]
    normalisation = []
    for name, stat in zip(dataset.info.channel_names, channel_stats, strict=True):
        if dataset.info.modality == "CT" or name.upper() == "CT":
            normalisation.append(
                {
                    "scheme": "ct",
                    "lower": stat["percentile_00_5"],
                    "upper": stat["percentile_99_5"],
                    "mean": stat["mean"],
                    "std": stat["std"],
                }
            )
        else:
            normalisation.append({"scheme": "zscore"})
    dataset_json = {
        **dataset.info.to_json(),
        "format_version": FORMAT_VERSION,
        "target_spacing": [float(s) for s in target_spacing],
        "normalisation": normalisation,
        "case_ids": sorted(f["case_id"] for f in fingerprints),
        "statistics_case_ids": sorted(stats_ids),
        "split_case_list_hash": split["case_list_hash"],
    }
    fingerprint = {
        "median_spacing": median_spacing,
        "median_shape": [float(s) for s in np.median([f["shape"] for f in stats], axis=0)],
        "foreground_intensity": {n: s for n, s in zip(dataset.info.channel_names, channel_stats, strict=True)},
        "cases": {f["case_id"]: {"spacing": f["spacing"], "shape": f["shape"]} for f in fingerprints},
    }
    return dataset_json, fingerprint


def foreground_locations(label: np.ndarray, num_classes: int, seed: int = 1234) -> np.ndarray:
    """Up to 10,000 (and at least 1%) sampled voxels per foreground class as int32 rows (class, x, y, z)."""
    rng = np.random.default_rng(seed)
    rows = [np.zeros((0, 4), np.int32)]
    for c in range(1, num_classes):
        coords = np.argwhere(label == c)
        if len(coords) == 0:
            continue
        count = min(len(coords), max(LOCATIONS_PER_CLASS, int(np.ceil(0.01 * len(coords)))))
        chosen = coords[np.sort(rng.choice(len(coords), count, replace=False))]
        rows.append(np.column_stack([np.full(count, c), chosen]).astype(np.int32))
    return np.concatenate(rows)


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write a .npy file atomically."""
    with atomic_path(path) as tmp:
        np.save(tmp, array)


def preprocess_case(dataset: Dataset, dataset_json: dict, out: Path, case_id: str) -> str:
    """Preprocess one case into ``out/<case_id>/`` (atomic writes); returns the case id."""
    case = dataset.load_case(case_id)
    image, properties = preprocess_image(case.image, case.affine, case.spacing, dataset_json)
    box = tuple(slice(lo, hi) for lo, hi in properties["crop_box"])
    label = resample_label(case.label[box], properties["resampled_shape"], dataset_json["num_classes"])
    properties["case_id"] = case_id
    folder = out / case_id
    save_npy(folder / "image.npy", image)
    save_npy(folder / "label.npy", label.astype(np.int8)[None])
    save_npy(folder / "fg_locations.npy", foreground_locations(label, dataset_json["num_classes"]))
    write_json_atomic(folder / "properties.json", properties)
    return case_id


def preprocess_dataset(
    name: str,
    root,
    split_path,
    out,
    workers: int = 1,
    target_spacing=None,
    regions: dict | None = None,
    max_voxels: int = DEFAULT_MAX_VOXELS,
    known=None,
) -> dict:
    """Preprocess every case of the split (fingerprint pass, then case pass); returns the dataset.json dict.

    ``regions`` (nnU-Net datasets) become the dataset.json's regions, which training validates on. Every
    volume's header is checked (``max_voxels``, spacing) before its voxels are read, as by ``segmamba check``.
    ``known``: an nnU-Net dataset's (file ending, info) from its dataset file (``open_dataset``).
    """
    dataset = open_dataset(name, root, regions=regions, max_voxels=max_voxels, known=known)
    split = load_split(split_path)
    verify_split(split, dataset.case_ids(), source=f"split file {split_path}")
    case_ids = sorted(c for key in SPLIT_KEYS for c in split[key])
    fingerprints = list(map_cases(partial(fingerprint_case, dataset), case_ids, workers, "fingerprint"))
    dataset_json, fingerprint = plan_dataset(dataset, split, fingerprints, target_spacing)
    out = Path(out)
    remove_stale_temporaries(out)  # left by a killed earlier run; the cases are rewritten anyway
    list(map_cases(partial(preprocess_case, dataset, dataset_json, out), case_ids, workers, "preprocess"))
    write_json_atomic(out / "fingerprint.json", fingerprint)
    write_json_atomic(out / "dataset.json", dataset_json)
    return dataset_json
