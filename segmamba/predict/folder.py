"""Predict every case of a plain folder of scans with one or several trained models (``segmamba predict
--model M [--model M2 ...] -i IN -o OUT``).

Folder layout (nnU-Net's ``imagesTs``): channel ``k`` of case ``C`` is ``C_000k.<ext>``; a single-channel case
may also be a plain ``C.<ext>``; ``<ext>`` is ``.nii.gz``, ``.nii``, ``.mha`` or ``.nrrd``. Outputs in ``OUT``:
``C.<ext of its channel 0>`` (uint8 label map in the input's geometry) and, with ``save_probabilities``,
``C.npz`` holding ``probabilities`` (float32, K x X x Y x Z in the input's voxel order; class k = label k).
A case that fails is named and skipped; the others are still written.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segmamba.errors import InputError
from segmamba.predict.images import Geometry, read_image, split_suffix, write_labels
from segmamba.predict.settings import PredictSettings

logger = logging.getLogger("segmamba.predict")

CHANNEL_NAME = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")


@dataclass
class FolderCase:
    """One case of an input folder: its channel files in channel order."""

    case_id: str
    files: list[Path]

    @property
    def suffix(self) -> str:
        """The file format of the outputs: that of channel 0."""
        return split_suffix(self.files[0].name)[1]


@dataclass
class FolderResult:
    """What a folder prediction did: cases written, skipped (output present) and failed (with the reason)."""

    predicted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def find_cases(folder: Path, channel_names: list[str]) -> list[FolderCase]:
    """The cases of ``folder`` for a model taking ``channel_names``.

    Raises:
        InputError: the folder is missing or holds no image; or, naming every case and file concerned, a
            missing channel file, a channel the model does not take, or a file named for no channel.
    """
    if not folder.is_dir():
        raise InputError(f"input folder {folder} does not exist")
    channels = len(channel_names)
    found: dict[str, dict[int, Path]] = {}
    problems = []
    for path in sorted(folder.iterdir()):
        parts = split_suffix(path.name)
        if parts is None or not path.is_file() or path.name.startswith("."):
            continue
        stem, _ = parts
        match = CHANNEL_NAME.match(stem)
        if match:
            case_id, channel = match["case"], int(match["channel"])
        elif channels == 1:
            case_id, channel = stem, 0
        else:
            problems.append(f"{path.name}: not named <case>_<4-digit channel> (the model takes {channels} channels)")
            continue
        if channel in found.setdefault(case_id, {}):
            problems.append(
                f"case {case_id}: two files for channel {channel} ({found[case_id][channel].name}, {path.name})"
            )
        found[case_id][channel] = path
    if not found and not problems:
        raise InputError(f"input folder {folder} holds no image ({', '.join(('.nii.gz', '.nii', '.mha', '.nrrd'))})")
    for case_id, files in sorted(found.items()):
        extra = sorted(c for c in files if c >= channels)
        if extra:
            problems.append(
                f"case {case_id}: {', '.join(files[c].name for c in extra)}: the model takes {channels} channel(s) "
                f"({', '.join(channel_names)}), numbered 0000..{channels - 1:04d}"
            )
        missing = [c for c in range(channels) if c not in files]
        if missing:
            problems.append(
                f"case {case_id}: missing channel file(s) "
                + ", ".join(f"{case_id}_{c:04d}.* ({channel_names[c]})" for c in missing)
            )
    if problems:
        raise InputError(f"input folder {folder}: " + "; ".join(problems))
    return [FolderCase(case_id, [files[c] for c in range(channels)]) for case_id, files in sorted(found.items())]


def read_case(case: FolderCase) -> tuple[np.ndarray, Geometry]:
    """The (C, X, Y, Z) image of a case and its geometry; every channel must lie on channel 0's grid."""
    arrays, geometry = [], None
    for path in case.files:
        data, own = read_image(path)
        if geometry is not None and not geometry.same_grid(own):
            raise InputError(
                f"case {case.case_id}: {path.name} (shape {own.shape}) is not on the voxel grid of "
                f"{case.files[0].name} (shape {geometry.shape}; shape and affine must match)"
            )
        geometry = geometry or own
        arrays.append(data)
    return np.stack(arrays), geometry


def save_probabilities(path: Path, probabilities: np.ndarray) -> None:
    """Write ``probabilities`` (K, X, Y, Z) to ``path`` (.npz) atomically."""
    from segmamba.io_utils import atomic_path

    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, probabilities=probabilities.astype(np.float32))


def predict_folder(
    models: list[str],
    input_dir: str | Path,
    output_dir: str | Path,
    options: PredictSettings,
    device: str = "auto",
    probabilities: bool = False,
) -> FolderResult:
    """Segment every case of ``input_dir`` with the (ensembled) ``models`` into ``output_dir``.

    Args:
        models: run folders (holding ``checkpoint_final.pt``) or bundles; several are ensembled.
        input_dir, output_dir: folder of scans (see the module docstring) and where outputs go.
        options: sliding-window / TTA settings; ``overwrite`` predicts again cases whose label map exists.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        probabilities: also write ``<case>.npz`` with the (ensembled) probabilities.

    Returns:
        The cases predicted, skipped and failed (case -> reason).
    """
    from tqdm import tqdm

    from segmamba.predict.ensemble import ensemble_probabilities, load_models
    from segmamba.runtime import select_device

    loaded = load_models(list(models), select_device(device))
    cases = find_cases(Path(input_dir), list(loaded[0].dataset["channel_names"]))
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    result = FolderResult()
    for case in tqdm(cases, desc="predict", unit="case", disable=None):
        target = output_dir / f"{case.case_id}{case.suffix}"
        if target.is_file() and not options.overwrite:
            result.skipped.append(case.case_id)
            continue
        try:
            image, geometry = read_case(case)
            mean = ensemble_probabilities(loaded, image, geometry, options)
            if probabilities:
                save_probabilities(output_dir / f"{case.case_id}.npz", mean)
            write_labels(target, np.argmax(mean, axis=0).astype(np.uint8), geometry)
        except Exception as exc:  # one bad case must not stop the others; it is named at the end
            result.failed[case.case_id] = f"{type(exc).__name__}: {exc}"
            logger.error("case %s failed: %s", case.case_id, result.failed[case.case_id])
            continue
        result.predicted.append(case.case_id)
    return result
