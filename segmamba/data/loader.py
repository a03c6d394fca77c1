"""Patch batches for training, a pure function of (seed, iteration) so that resumed training is identical.

Sampling follows the published ``DataLoaderMultiProcess``: cases drawn uniformly with replacement; sample j
of a batch of B is foreground-forced when j >= round(B * (1 - oversample_foreground)); a random patch has
its lower corner uniform in the valid range (volumes smaller than the patch are padded about symmetrically);
a forced patch is centred on a stored voxel of a randomly chosen present class (clamped from below only).
Padding is 0 for image and label.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch

from segmamba.data.augment import (
    AugmentationConfig,
    intensity_and_mirror_transforms,
    sample_spatial_params,
    spatial_margin,
    spatial_transform,
)
from segmamba.data.preprocessed import load_case, load_foreground_locations
from segmamba.errors import InputError

MAX_SEED = 2**32


@contextlib.contextmanager
def single_torch_thread():
    """Run torch ops on one intra-op thread (bitwise identical results in and outside workers)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def crop_with_padding(array: np.ndarray, lower, size, dtype=np.float32) -> np.ndarray:
    """Copy the box [lower, lower + size) of the spatial axes of (C, X, Y, Z) ``array`` as ``dtype``; outside is 0."""
    out = np.zeros((array.shape[0], *size), dtype=dtype)
    src, dst = [], []
    for lo, n, extent in zip(lower, size, array.shape[1:], strict=True):
        start, stop = max(lo, 0), min(lo + n, extent)
        if stop <= start:
            return out
        src.append(slice(start, stop))
        dst.append(slice(start - lo, stop - lo))
    out[(slice(None), *dst)] = array[(slice(None), *src)]
    return out


class PatchBatches:
    """Random (augmented) patch batches from a preprocessed folder.

    Args:
        preprocessed_dir: folder written by ``segmamba preprocess``.
        case_ids: cases to draw from (usually the training subset).
        patch_size: (X, Y, Z) patch size.
        batch_size: patches per batch.
        oversample_foreground: fraction of each batch forced to contain foreground (nnU-Net rule).
        augment: True for the default augmentations, False for none, or an :class:`AugmentationConfig`.
        seed: base seed; ``batch(iteration)`` depends only on (seed, iteration).
    """

    def __init__(self, preprocessed_dir, case_ids, patch_size, batch_size, oversample_foreground=0.33,
                 augment: bool | AugmentationConfig = True, seed: int = 0):
        self.preprocessed_dir = Path(preprocessed_dir)
        self.case_ids = list(case_ids)
        if not self.case_ids:
            raise InputError(f"no cases to draw patches from in {preprocessed_dir}")
        self.patch_size = tuple(int(p) for p in patch_size)
        self.batch_size = int(batch_size)
        self.oversample_foreground = oversample_foreground
        self.augmentation = AugmentationConfig() if augment is True else (augment or None)
        self.seed = int(seed)
        self._cache: dict[str, tuple] = {}
        self._transforms = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_cache"], state["_transforms"] = {}, None  # memory maps and transforms are rebuilt per process
        return state

    def forced_foreground(self, sample: int) -> bool:
        """Whether sample ``sample`` of a batch must contain foreground (nnU-Net's oversampling rule)."""
        return sample >= round(self.batch_size * (1 - self.oversample_foreground))

    def _case(self, case_id: str):
        if case_id not in self._cache:
            image, label, _ = load_case(self.preprocessed_dir, case_id, mmap=True)
            if label is None:
                raise InputError(f"case {case_id}: {self.preprocessed_dir / case_id / 'label.npy'}: missing label")
            self._cache[case_id] = (image, label, load_foreground_locations(self.preprocessed_dir, case_id))
        return self._cache[case_id]

    def _patch_lower_corner(self, rng: np.random.Generator, shape, locations, forced: bool) -> list[int]:
        need = [max(p - s, 0) for p, s in zip(self.patch_size, shape, strict=True)]
        lower_bounds = [-n // 2 for n in need]
        upper_bounds = [s + n // 2 + n % 2 - p for s, n, p in zip(shape, need, self.patch_size, strict=True)]
        if forced and len(locations):
            classes = np.unique(locations[:, 0])
            chosen = classes[rng.integers(len(classes))]
            rows = locations[locations[:, 0] == chosen]
            voxel = rows[rng.integers(len(rows)), 1:]
            return [max(lb, int(v) - p // 2) for lb, v, p in zip(lower_bounds, voxel, self.patch_size, strict=True)]
        return [int(rng.integers(lb, ub + 1)) for lb, ub in zip(lower_bounds, upper_bounds, strict=True)]

    def sample(self, case_id: str, rng: np.random.Generator, forced: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """One (image (C,*patch) float32, label (1,*patch) int64) sample drawn with ``rng``."""
        image, label, locations = self._case(case_id)
        lower = self._patch_lower_corner(rng, image.shape[1:], locations, forced)
        spatial = sample_spatial_params(rng, self.augmentation) if self.augmentation else None
        margin = spatial_margin(self.patch_size, *spatial) if spatial else [0, 0, 0]
        region_lower = [lo - m for lo, m in zip(lower, margin, strict=True)]
        region_size = [p + 2 * m for p, m in zip(self.patch_size, margin, strict=True)]
        data = {"image": torch.from_numpy(crop_with_padding(image, region_lower, region_size)),
                "label": torch.from_numpy(crop_with_padding(label, region_lower, region_size))}
        if self.augmentation:
            if self._transforms is None:
                self._transforms = intensity_and_mirror_transforms(self.augmentation)
            self._transforms.set_random_state(seed=int(rng.integers(MAX_SEED)))
            with single_torch_thread():  # float results of some torch kernels depend on the thread count
                if spatial:
                    data = spatial_transform(self.patch_size, *spatial, self.augmentation)(data)
                data = self._transforms(data)
        image_out = torch.as_tensor(data["image"], dtype=torch.float32).as_subclass(torch.Tensor)
        label_out = torch.as_tensor(data["label"]).as_subclass(torch.Tensor).round().to(torch.int64)
        return image_out.contiguous(), label_out.contiguous()

    def batch(self, iteration: int) -> dict[str, torch.Tensor]:
        """The batch of ``iteration``: {"image": (B, C, *patch) float32, "label": (B, 1, *patch) int64}."""
        rng = np.random.default_rng([self.seed, int(iteration)])
        chosen = rng.integers(len(self.case_ids), size=self.batch_size)
        images, labels = [], []
        for j, index in enumerate(chosen):
            sample_rng = np.random.default_rng([self.seed, int(iteration), j])
            image, label = self.sample(self.case_ids[index], sample_rng, self.forced_foreground(j))
            images.append(image)
            labels.append(label)
        return {"image": torch.stack(images), "label": torch.stack(labels)}

    def iterate(self, start_iteration: int = 0, num_workers: int = 0, num_iterations: int | None = None):
        """Iterator over ``batch(start_iteration)``, ``batch(start_iteration + 1)``, ... (in order).

        Uses a torch DataLoader over iteration indices with ``num_workers`` processes; the batches are the
        same for any number of workers. ``num_iterations`` bounds the iterator (default: endless).
        """
        indices = _IterationIndices(self, start_iteration, num_iterations if num_iterations is not None else 2**62)
        loader = torch.utils.data.DataLoader(
            indices, batch_size=None, shuffle=False, num_workers=num_workers,
            worker_init_fn=_WorkerInit(self.seed + start_iteration) if num_workers else None,
            prefetch_factor=2 if num_workers else None, persistent_workers=False)
        return iter(loader)


class _IterationIndices(torch.utils.data.Dataset):
    """Map-style view of iterations ``start .. start + count - 1`` as batches."""

    def __init__(self, batches: PatchBatches, start: int, count: int):
        self.batches, self.start, self.count = batches, start, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.batches.batch(self.start + index)


class _WorkerInit:
    """Worker set-up: one torch thread, global RNGs seeded from (seed + start iteration, worker id)."""

    def __init__(self, base_seed: int):
        self.base_seed = base_seed

    def __call__(self, worker_id: int) -> None:
        torch.set_num_threads(1)
        np.random.seed((self.base_seed + worker_id) % MAX_SEED)
        torch.manual_seed(self.base_seed + worker_id)
