"""Patch batches for training, a pure function of (seed, iteration) so that resumed training is identical.

Sampling follows the published ``DataLoaderMultiProcess``: cases drawn uniformly with replacement; sample j
of a batch of B is foreground-forced when j >= round(B * (1 - oversample_foreground)); a random patch has
its lower corner uniform in the valid range (volumes smaller than the patch are padded about symmetrically);
a forced patch is centred on a stored voxel of a randomly chosen present class (clamped from below only).
Padding is 0 for image and label. Augmentations: :mod:`segmamba.train.augmentation`.

Open files stay bounded whatever the number of cases: every sample opens its case's arrays as memory maps and
releases them before the next one (as nnU-Net's loader does); nothing is cached per case, so a worker's memory
and descriptors do not grow with the dataset. Each sample is written straight into the batch tensors: an
unrotated patch is one (mirrored) copy out of the memory map, a rotated/scaled one is resampled from the part
of the volume it covers.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from segmamba.data.preprocessed_reader import load_foreground_locations, open_array
from segmamba.errors import InputError
from segmamba.train.augmentation import (
    AugmentationConfig,
    augment_intensities,
    elastic_deformation,
    resample_patch,
    sample_mirror_axes,
    sample_spatial_matrix,
    sampled_box,
)
from segmamba.train.preemption import STOP_SIGNALS


@contextlib.contextmanager
def single_torch_thread():
    """Run torch ops on one intra-op thread (bitwise identical results in and outside workers)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def crop_into(out: np.ndarray, array: np.ndarray, lower, flip_axes: tuple[int, ...] = ()) -> None:
    """Copy the box [lower, lower + size) of the spatial axes of (C, X, Y, Z) ``array`` into ``out`` (C, *size),
    mirrored along the spatial ``flip_axes``; outside ``array`` is 0."""
    size = out.shape[1:]
    src, dst = [slice(None)], [slice(None)]
    for axis, (lo, n, extent) in enumerate(zip(lower, size, array.shape[1:], strict=True)):
        start, stop = max(lo, 0), min(lo + n, extent)
        if stop <= start:
            out.fill(0)
            return
        if axis in flip_axes:  # box index b -> out index n - 1 - b
            src.append(slice(stop - 1, start - 1 if start > 0 else None, -1))
            dst.append(slice(n - (stop - lo), n - (start - lo)))
        else:
            src.append(slice(start, stop))
            dst.append(slice(start - lo, stop - lo))
    for axis, inside in enumerate(dst[1:], start=1):  # zero only the padding
        before = (slice(None),) * axis
        out[(*before, slice(0, inside.start))] = 0
        out[(*before, slice(inside.stop, None))] = 0
    np.copyto(out[tuple(dst)], array[tuple(src)], casting="unsafe")


def new_batch_tensor(shape, dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised tensor; inside a DataLoader worker it is allocated in shared memory, as torch's
    ``default_collate`` does there, so that the batch reaches the main process without another copy."""
    if torch.utils.data.get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    new_shared = getattr(torch.UntypedStorage, "_new_shared", None)
    if new_shared is None:  # not in this torch: share afterwards (one more copy, still correct)
        return torch.empty(shape, dtype=dtype).share_memory_()
    storage = new_shared(math.prod(shape) * dtype.itemsize)
    return torch.empty(0, dtype=dtype).set_(storage).view(shape)


def read_region(array: np.ndarray, lower, upper) -> tuple[torch.Tensor, np.ndarray]:
    """The part of the box [lower, upper) that lies inside ``array``'s spatial axes, as float32, and its lower
    corner (the box clipped to the volume; at least one voxel wide)."""
    shape = np.asarray(array.shape[1:])
    low = np.clip(lower, 0, shape - 1)
    high = np.clip(upper, low + 1, shape)
    box = (slice(None), *(slice(int(a), int(b)) for a, b in zip(low, high, strict=True)))
    return torch.from_numpy(np.array(array[box], dtype=np.float32)), low  # a copy: the map is released after


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

    def __init__(
        self,
        preprocessed_dir,
        case_ids,
        patch_size,
        batch_size,
        oversample_foreground=0.33,
        augment: bool | AugmentationConfig = True,
        seed: int = 0,
    ):
        self.preprocessed_dir = Path(preprocessed_dir)
        self.case_ids = list(case_ids)
        if not self.case_ids:
            raise InputError(f"no cases to draw patches from in {preprocessed_dir}")
        self.patch_size = tuple(int(p) for p in patch_size)
        self.batch_size = int(batch_size)
        self.oversample_foreground = oversample_foreground
        self.augmentation = AugmentationConfig() if augment is True else (augment or None)
        self.seed = int(seed)

    def forced_foreground(self, sample: int) -> bool:
        """Whether sample ``sample`` of a batch must contain foreground (nnU-Net's oversampling rule)."""
        return sample >= round(self.batch_size * (1 - self.oversample_foreground))

    def _open_case(self, case_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Memory maps of a case's image and label (one descriptor each, released with the arrays)."""
        folder = self.preprocessed_dir / case_id
        if not (folder / "label.npy").exists():
            raise InputError(f"case {case_id}: {folder / 'label.npy'}: missing label")
        image, label = open_array(folder / "image.npy", case_id), open_array(folder / "label.npy", case_id)
        if image.ndim != 4 or label.shape != (1, *image.shape[1:]):
            raise InputError(
                f"case {case_id}: {folder}: image {image.shape} and label {label.shape} do not match "
                "(expected (C, X, Y, Z) and (1, X, Y, Z)); rerun `segmamba preprocess`"
            )
        return image, label

    def _patch_lower_corner(self, rng: np.random.Generator, shape, case_id: str, forced: bool) -> list[int]:
        need = [max(p - s, 0) for p, s in zip(self.patch_size, shape, strict=True)]
        lower_bounds = [-n // 2 for n in need]
        upper_bounds = [s + n // 2 + n % 2 - p for s, n, p in zip(shape, need, self.patch_size, strict=True)]
        locations = load_foreground_locations(self.preprocessed_dir, case_id) if forced else None
        if forced and len(locations):
            classes = np.unique(locations[:, 0])
            chosen = classes[rng.integers(len(classes))]
            rows = locations[locations[:, 0] == chosen]
            voxel = rows[rng.integers(len(rows)), 1:]
            return [max(lb, int(v) - p // 2) for lb, v, p in zip(lower_bounds, voxel, self.patch_size, strict=True)]
        return [int(rng.integers(lb, ub + 1)) for lb, ub in zip(lower_bounds, upper_bounds, strict=True)]

    def sample_into(
        self,
        case_id: str,
        image: np.ndarray,
        label: np.ndarray,
        rng: np.random.Generator,
        forced: bool,
        image_out: torch.Tensor,
        label_out: torch.Tensor,
    ) -> None:
        """Draw one sample of the case's ``image`` and ``label`` arrays with ``rng`` into ``image_out``
        (C, *patch) float32 and ``label_out`` (1, *patch) int8."""
        lower = self._patch_lower_corner(rng, image.shape[1:], case_id, forced)
        config = self.augmentation
        matrix = sample_spatial_matrix(rng, config) if config else None
        flips = sample_mirror_axes(rng, config) if config else ()
        if matrix is None:
            crop_into(image_out.numpy(), image, lower, flips)
            crop_into(label_out.numpy(), label, lower, flips)
        else:
            box_lower, box_upper = sampled_box(matrix, self.patch_size, lower)
            region, region_lower = read_region(image, box_lower, box_upper)
            label_region, _ = read_region(label, box_lower, box_upper)
            centre = np.asarray(lower) + (np.asarray(self.patch_size) - 1) / 2 - region_lower
            resample_patch(
                region, label_region, matrix, centre, flips, image_out, label_out, config.image_interpolation
            )
        if config:
            if rng.random() < config.elastic_prob:
                elastic_deformation(image_out, label_out, rng, config)
            augment_intensities(image_out, rng, config)

    def batch(self, iteration: int) -> dict[str, torch.Tensor]:
        """The batch of ``iteration``: {"image": (B, C, *patch) float32, "label": (B, 1, *patch) int8}."""
        rng = np.random.default_rng([self.seed, int(iteration)])
        chosen = [self.case_ids[i] for i in rng.integers(len(self.case_ids), size=self.batch_size)]
        images = labels = None
        with single_torch_thread():  # float results of some torch kernels depend on the thread count
            for j, case_id in enumerate(chosen):
                image, label = self._open_case(case_id)
                if images is None:
                    images = new_batch_tensor((self.batch_size, image.shape[0], *self.patch_size), torch.float32)
                    labels = new_batch_tensor((self.batch_size, 1, *self.patch_size), torch.int8)
                elif image.shape[0] != images.shape[1]:
                    raise InputError(
                        f"case {case_id}: {self.preprocessed_dir / case_id / 'image.npy'}: "
                        f"{image.shape[0]} channels, case {chosen[0]} has {images.shape[1]}"
                    )
                sample_rng = np.random.default_rng([self.seed, int(iteration), j])
                self.sample_into(case_id, image, label, sample_rng, self.forced_foreground(j), images[j], labels[j])
                del image, label  # release the memory maps (and their descriptors) before the next case
        return {"image": images, "label": labels}


@dataclass(frozen=True)
class LoaderError:
    """An :class:`InputError` met in a worker process, sent to the main process as data (torch would re-raise it
    wrapped in the worker's traceback); :class:`StepLoader` raises it there as it was."""

    message: str


class StepBatches(torch.utils.data.Dataset):
    """Map a training step to this process's batch: ``batches.batch(step * world_size + rank)``."""

    def __init__(self, batches: PatchBatches, rank: int, world_size: int, total_steps: int) -> None:
        self.batches = batches
        self.rank = rank
        self.world_size = world_size
        self.total_steps = total_steps

    def __len__(self) -> int:
        return self.total_steps

    def __getitem__(self, step: int) -> dict[str, torch.Tensor] | LoaderError:
        try:
            return self.batches.batch(step * self.world_size + self.rank)
        except InputError as exc:
            if torch.utils.data.get_worker_info() is None:
                raise
            return LoaderError(str(exc))


def init_worker(worker_id: int) -> None:
    """DataLoader worker set-up: one torch thread (batches do not depend on it); SIGTERM and SIGUSR1 ignored.

    SLURM signals every process of a job (and ``kill -- -PGID`` a whole process group): the main process
    decides when to stop (it saves ``checkpoint_latest.pt`` and exits 75); a worker killed by the signal would
    make torch raise "DataLoader worker ... is killed by signal" in the main process instead. The stop signals
    are blocked while the workers are forked (:func:`stop_signals_blocked`), so none is lost before this runs;
    ignoring them discards any that arrived meanwhile. Workers still exit when the main process shuts its
    loader down, and die with it if it is killed.
    """
    torch.set_num_threads(1)
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@contextlib.contextmanager
def stop_signals_blocked():
    """Hold back SIGTERM/SIGUSR1 in this thread (and in processes forked meanwhile) for the block; a signal that
    arrives meanwhile is delivered when it ends. No-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class StepLoader:
    """Iterator over the batches of steps ``start .. stop - 1`` in order, made by ``num_workers`` DataLoader
    worker processes (0: in this process); the batches are the same for any number of workers.

    Call :meth:`close` (or use it as a context manager) to stop the workers deterministically.
    """

    def __init__(
        self,
        batches: PatchBatches,
        rank: int,
        world_size: int,
        start: int,
        stop: int,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        self._loader = torch.utils.data.DataLoader(
            StepBatches(batches, rank, world_size, stop),
            sampler=range(start, stop),
            batch_size=None,
            num_workers=num_workers,
            pin_memory=pin_memory,
            worker_init_fn=init_worker if num_workers else None,
        )
        with stop_signals_blocked():  # the workers start here and inherit the blocked mask
            self._iterator = iter(self._loader)

    def __iter__(self) -> StepLoader:
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        batch = next(self._iterator)
        if isinstance(batch, LoaderError):
            raise InputError(batch.message)
        return batch

    def close(self) -> None:
        """Shut the worker processes down (torch does it when its iterator is released)."""
        self._iterator = None

    def __enter__(self) -> StepLoader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
