"""Readers for the raw dataset layouts: BraTS 2023 GLI, AIIB 2023, CRC-500 and any nnU-Net v2 raw dataset.

Every reader yields cases with the image channels stacked as (C, X, Y, Z) float32 in nibabel voxel order,
the label map as int16 (X, Y, Z), the affine and the spacing. Problems are collected per case as lines that
name the case and the file, so that ``segmamba check`` can report them all at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segmamba.data.dataset_config import read_nnunet_dataset_json
from segmamba.data.dataset_json import load_dataset_json, training_file_problems
from segmamba.data.nifti import VolumeReadError, read_volume
from segmamba.data.nifti_header import DEFAULT_MAX_VOXELS
from segmamba.data.registry import (
    AIIB2023,
    BRATS2023,
    CRC500,
    DATASETS,
    NIFTI_ENDINGS,
    NNUNET,
    DatasetInfo,
    get_definition,
)
from segmamba.errors import InputError

AFFINE_TOLERANCE_MM = 1e-3


@dataclass
class Case:
    """One loaded case."""

    case_id: str
    image: np.ndarray  # (C, X, Y, Z) float32
    label: np.ndarray | None  # (X, Y, Z) int16
    affine: np.ndarray  # 4x4
    spacing: np.ndarray  # (3,) mm
    image_paths: list[Path] = field(default_factory=list)
    label_path: Path | None = None


def problem(case_id: str, path: Path | str, what: str) -> str:
    """Format one problem line naming the case and the file."""
    return f"case {case_id}: file {path}: {what}"


class Dataset:
    """Base reader. Subclasses define ``info``, :meth:`case_ids` and :meth:`case_files`."""

    info: DatasetInfo
    dataset_name = "dataset"

    def __init__(self, root: str | Path, require_labels: bool = True, max_voxels: int = DEFAULT_MAX_VOXELS):
        self.root = Path(root)
        self.require_labels = require_labels
        self.max_voxels = max_voxels
        if not self.root.is_dir():
            raise InputError(f"{self.dataset_name} root {self.root} does not exist or is not a folder")

    def case_ids(self) -> list[str]:
        """Sorted case identifiers."""
        raise NotImplementedError

    def case_files(self, case_id: str) -> tuple[list[Path], Path | None]:
        """(image paths in channel order, label path or None when labels are not required and absent)."""
        raise NotImplementedError

    def layout_problems(self) -> list[str]:
        """Problems with the folder as a whole (e.g. label files without an image); empty by default."""
        return []

    def layout_warnings(self) -> list[str]:
        """Files that are skipped on purpose, one line each naming the file (hidden files)."""
        return [
            f"file {path}: hidden file skipped (a name starting with '.' is not a case, e.g. a macOS ._ file)"
            for folder in self.case_folders()
            for path in _hidden(folder)
        ]

    def case_folders(self) -> list[Path]:
        """The folders whose files are cases (where hidden files are reported)."""
        return [self.root]

    def label_value_hint(self, unexpected: list[int]) -> str:
        """Extra advice appended to an unexpected-label message (dataset specific)."""
        return ""

    def _require_cases(self, ids: list[str], where: Path) -> list[str]:
        if not ids:
            raise InputError(f"no {self.info.name} cases found in {where}")
        return sorted(ids)

    def read_case(self, case_id: str) -> tuple[Case | None, list[str]]:
        """Read one case and collect every problem found (the case is None when any problem is fatal)."""
        image_paths, label_path = self.case_files(case_id)
        problems: list[str] = []
        channels: list[np.ndarray] = []
        reference = None  # (path, shape, affine, spacing) of the first readable channel
        for path in image_paths:
            try:
                data, affine, spacing = read_volume(path, max_voxels=self.max_voxels)
            except VolumeReadError as exc:
                problems.append(problem(case_id, path, str(exc)))
                continue
            problems += self._geometry_problems(case_id, path, data.shape, affine, reference)
            if reference is None:
                reference = (path, data.shape, affine, spacing)
            bad = int(np.count_nonzero(~np.isfinite(data)))
            if bad:
                problems.append(problem(case_id, path, f"{bad} NaN/Inf voxels"))
            elif not np.any(data):
                problems.append(problem(case_id, path, "image is empty (all voxels are zero)"))
            channels.append(data)
        label = None
        if label_path is not None:
            label, label_problems = self._read_label(case_id, label_path, reference)
            problems += label_problems
        if problems or reference is None:
            return None, problems
        case = Case(
            case_id=case_id,
            image=np.stack(channels).astype(np.float32, copy=False),
            label=label,
            affine=reference[2],
            spacing=np.asarray(reference[3], dtype=np.float64),
            image_paths=list(image_paths),
            label_path=label_path,
        )
        return case, []

    def _geometry_problems(self, case_id, path, shape, affine, reference) -> list[str]:
        if reference is None:
            return []
        ref_path, ref_shape, ref_affine, _ = reference
        if tuple(shape) != tuple(ref_shape):
            return [problem(case_id, path, f"shape {tuple(shape)} differs from {tuple(ref_shape)} of {ref_path}")]
        if not np.allclose(affine, ref_affine, atol=AFFINE_TOLERANCE_MM, rtol=0):
            return [
                problem(
                    case_id,
                    path,
                    f"affine differs from that of {ref_path} (max difference {np.abs(affine - ref_affine).max():.4g})",
                )
            ]
        return []

    def _read_label(self, case_id, path, reference) -> tuple[np.ndarray | None, list[str]]:
        try:
            data, affine, _ = read_volume(path, dtype=None, max_voxels=self.max_voxels)
        except VolumeReadError as exc:
            return None, [problem(case_id, path, str(exc))]
        problems = self._geometry_problems(case_id, path, data.shape, affine, reference)
        if np.issubdtype(data.dtype, np.floating):
            bad = int(np.count_nonzero(~np.isfinite(data)))
            if bad:
                return None, problems + [problem(case_id, path, f"{bad} NaN/Inf voxels in the label map")]
            if not np.array_equal(data, np.round(data)):
                return None, problems + [problem(case_id, path, "label map has non-integer values")]
        values = np.unique(data).astype(np.int64)
        unexpected = sorted(int(v) for v in values if int(v) not in self.info.label_names)
        if unexpected:
            expected = sorted(self.info.label_names)
            message = f"unexpected label values {unexpected} (expected a subset of {expected})"
            problems.append(problem(case_id, path, message + self.label_value_hint(unexpected)))
        if problems:
            return None, problems
        return data.astype(np.int16), []

    def load_case(self, case_id: str) -> Case:
        """Load one case; raises InputError naming the case and file on the first problem."""
        case, problems = self.read_case(case_id)
        if case is None:
            more = f" (and {len(problems) - 1} more problems; run `segmamba check`)" if len(problems) > 1 else ""
            raise InputError((problems[0] if problems else f"case {case_id}: unreadable") + more)
        return case


BRATS_CHANNELS = BRATS2023.info.channel_names


class BratsDataset(Dataset):
    """BraTS 2023 GLI: ``<root>/<case>/<case>-{t1c,t1n,t2f,t2w,seg}.nii.gz``; channels [t2w, t2f, t1n, t1c]."""

    dataset_name = BRATS2023.name
    info = BRATS2023.info

    def case_ids(self) -> list[str]:
        """Sorted names of the case folders under the root."""
        ids = [p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        return self._require_cases(ids, self.root)

    def case_files(self, case_id: str) -> tuple[list[Path], Path | None]:
        """The four modality files in channel order and the ``-seg`` file."""
        folder = self.root / case_id
        images = [folder / f"{case_id}-{channel}.nii.gz" for channel in BRATS_CHANNELS]
        label = folder / f"{case_id}-seg.nii.gz"
        return images, (label if self.require_labels or label.exists() else None)

    def label_value_hint(self, unexpected: list[int]) -> str:
        """Explain a label 4: pre-2023 BraTS labelling, where ET was 4."""
        if 4 in unexpected:
            return (
                "; label 4 is the pre-2023 BraTS enhancing-tumour label: BraTS 2023 uses 3 for ET, "
                "so relabel 4 -> 3 (e.g. with nibabel) before using this dataset"
            )
        return ""


class AiibDataset(Dataset):
    """AIIB 2023: ``<root>/img/AIIB23_N.nii.gz`` and ``<root>/gt/AIIB23_N.nii.gz`` (CT, airway label 1)."""

    dataset_name = AIIB2023.name
    info = AIIB2023.info

    def case_folders(self) -> list[Path]:
        """``img/`` and ``gt/``."""
        return [self.root / "img", self.root / "gt"]

    def case_ids(self) -> list[str]:
        """Sorted file stems of ``img/*.nii.gz``."""
        return self._require_cases(_stems(self.root / "img"), self.root / "img")

    def case_files(self, case_id: str) -> tuple[list[Path], Path | None]:
        """The CT file and its airway label file."""
        label = self.root / "gt" / f"{case_id}.nii.gz"
        return [self.root / "img" / f"{case_id}.nii.gz"], (label if self.require_labels or label.exists() else None)

    def layout_problems(self) -> list[str]:
        """Label files in ``gt/`` without an image."""
        images = set(_stems(self.root / "img"))
        return [
            problem(stem, self.root / "gt" / f"{stem}.nii.gz", "label file without an image in img/")
            for stem in sorted(set(_stems(self.root / "gt")) - images)
        ]


def _hidden(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(NIFTI_ENDINGS))


def _stems(folder: Path, ending: str = ".nii.gz") -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(
        p.name[: -len(ending)] for p in folder.iterdir() if p.name.endswith(ending) and not p.name.startswith(".")
    )


class NnunetDataset(Dataset):
    """nnU-Net v2 raw layout: ``dataset.json``, ``imagesTr/<case>_<CCCC><ending>``, ``labelsTr/<case><ending>``.

    Without labels required and without ``imagesTr/``, the cases of ``imagesTs/`` are read instead.

    Args:
        regions: evaluation regions {name: [labels]} (e.g. from the config); None: one per foreground label.
        name: the dataset's name in messages and in its info (default ``nnunet``).
        known: (file ending, info) already read and checked (from the dataset file,
            :mod:`segmamba.data.dataset_file`): ``dataset.json`` is not read again.
    """

    dataset_name = NNUNET

    def __init__(
        self,
        root: str | Path,
        require_labels: bool = True,
        regions: dict | None = None,
        name: str | None = None,
        max_voxels: int = DEFAULT_MAX_VOXELS,
        known: tuple[str, DatasetInfo] | None = None,
    ):
        if name:
            self.dataset_name = name
        super().__init__(root, require_labels, max_voxels)
        self.file_ending, self.info = known or self._read_dataset_json(regions)
        self.images_dir = self.root / "imagesTr"
        if not require_labels and not self.images_dir.is_dir() and (self.root / "imagesTs").is_dir():
            self.images_dir = self.root / "imagesTs"
        self.labels_dir = self.root / "labelsTr"

    def _read_dataset_json(self, regions: dict | None) -> tuple[str, DatasetInfo]:
        return read_nnunet_dataset_json(self.root, regions, self.dataset_name)

    def case_ids(self) -> list[str]:
        """Sorted case identifiers: files ``<case>_0000<ending>`` in the images folder."""
        suffix = "_0000" + self.file_ending
        ids = [
            s[: -len("_0000")]
            for s in _stems(self.images_dir, self.file_ending)
            if (s + self.file_ending).endswith(suffix)
        ]
        if not ids and (self.root / "dataset.json").is_file():
            hints = training_file_problems(self.root, *load_dataset_json(self.root))
            if hints:
                raise InputError(f"no {self.info.name} cases found in {self.images_dir}; " + "; ".join(hints))
        return self._require_cases(ids, self.images_dir)

    def case_folders(self) -> list[Path]:
        """The images and labels folders."""
        return [self.images_dir, self.labels_dir]

    def case_files(self, case_id: str) -> tuple[list[Path], Path | None]:
        """One image file per channel and the label file."""
        images = [self.images_dir / f"{case_id}_{c:04d}{self.file_ending}" for c in range(len(self.info.channel_names))]
        label = self.labels_dir / f"{case_id}{self.file_ending}"
        return images, (label if self.require_labels or label.exists() else None)

    def layout_problems(self) -> list[str]:
        """numTraining and file_ending against the files, image files with an unknown channel index, and label
        files without an image."""
        cases = set(self.case_ids())
        problems = []
        if self.require_labels and (self.root / "dataset.json").is_file():
            problems += training_file_problems(self.root, *load_dataset_json(self.root))
        for stem in _stems(self.images_dir, self.file_ending):
            case_id, _, channel = stem.rpartition("_")
            if not channel.isdigit() or int(channel) >= len(self.info.channel_names) or case_id not in cases:
                problems.append(
                    problem(
                        case_id or stem,
                        self.images_dir / (stem + self.file_ending),
                        f"unexpected image file (dataset.json declares "
                        f"{len(self.info.channel_names)} channels, and every case needs _0000)",
                    )
                )
        if self.require_labels:
            for stem in sorted(set(_stems(self.labels_dir, self.file_ending)) - cases):
                problems.append(
                    problem(
                        stem,
                        self.labels_dir / (stem + self.file_ending),
                        "label file without an image in " + self.images_dir.name,
                    )
                )
        return problems


class CrcDataset(NnunetDataset):
    """CRC-500 (private): nnU-Net raw layout with one CT channel and tumour label 1; dataset.json optional."""

    dataset_name = CRC500.name
    fixed_info = CRC500.info

    def _read_dataset_json(self, regions: dict | None) -> tuple[str, DatasetInfo]:
        if not (self.root / "dataset.json").is_file():
            return ".nii.gz", self.fixed_info
        ending, info = super()._read_dataset_json(None)
        if len(info.channel_names) != 1 or sorted(info.label_names) != [0, 1]:
            raise InputError(
                f"dataset {self.root}: file {self.root / 'dataset.json'}: CRC-500 needs one CT channel "
                f"and labels {{background: 0, tumour: 1}}, got channels {list(info.channel_names)} "
                f"and labels {info.label_names}"
            )
        return ending, self.fixed_info


#: The reader classes by name, as the registry's definitions name them.
READERS = {reader.__name__: reader for reader in (BratsDataset, AiibDataset, CrcDataset, NnunetDataset)}


def open_dataset(
    name: str,
    root: str | Path,
    require_labels: bool = True,
    regions: dict | None = None,
    max_voxels: int = DEFAULT_MAX_VOXELS,
    known: tuple[str, DatasetInfo] | None = None,
) -> Dataset:
    """Open a raw dataset at ``root`` with the reader of its registered layout (``segmamba.data.registry``).

    Any other name (a dataset of your own, ``[a-z][a-z0-9_]*``) is read as an nnU-Net v2 raw dataset under
    that name, as the workflow config requires of such datasets.

    Args:
        require_labels: when False, cases without a label file are readable (prediction on new scans).
        regions: evaluation regions of an nnU-Net dataset {name: [labels]}; None: one per foreground label.
        max_voxels: the most voxels a volume's header may declare (a larger one is a problem of its case).
        known: an nnU-Net dataset's (file ending, info) from its dataset file; its dataset.json is not read again.
    """
    if known is not None:
        return NnunetDataset(root, require_labels, name=name, max_voxels=max_voxels, known=known)
    if name not in DATASETS:
        if not (Path(root) / "dataset.json").is_file():
            get_definition(name)  # raises "unknown dataset ..., choose one of ..."
        return NnunetDataset(root, require_labels=require_labels, regions=regions, name=name, max_voxels=max_voxels)
    reader = READERS[DATASETS[name].reader]
    if regions:
        if reader is not NnunetDataset:
            raise InputError(f"dataset {name}: regions apply to nnunet datasets only ({name} has fixed regions)")
        return reader(root, require_labels=require_labels, regions=regions, max_voxels=max_voxels)
    return reader(root, require_labels=require_labels, max_voxels=max_voxels)
