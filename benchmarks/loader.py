"""Patch-loader throughput per worker, ours beside nnU-Net v2's batchgeneratorsv2 pipeline on the same case.

Writes one synthetic preprocessed case (default 4 x 160^3 float32, a tumour-like 3-class label) in our layout
and in nnU-Net v2's numpy layout (CASE.npy, CASE_seg.npy and CASE.pkl with the class locations; the arrays
are links to ours), then times batches of 2 patches of 128^3 on one torch thread (what one DataLoader worker
does), alternating ours and the peer round by round so that both see the same machine load:

- crop only: ours with ``augment=False``; the peer's ``nnUNetDataLoader`` cropping the final patch size with
  no transforms;
- default augmentation: ours with the default probabilities; the peer with the transforms of
  ``nnUNetTrainer.get_training_transforms`` for a 3D patch (rotation +-30 degrees, mirroring on all axes;
  no deep supervision, regions or normalisation mask, which ours does not do either) and its initial
  (enlarged) patch size, as ``nnUNetTrainer.get_dataloaders`` builds them.

Both oversample foreground as nnU-Net does (0.33: with batch 2 the second patch is centred on a foreground
voxel). The peer is installed only for this benchmark, never a dependency of the project:

    torch_pin="torch==$(python -c 'import torch; print(torch.__version__.split("+")[0])')"
    pip install nnunetv2==2.8.1 batchgeneratorsv2==0.3.6 "$torch_pin"

into the project's environment (pinning torch keeps pip from replacing the installed build with another, e.g. a
multi-GB CUDA one), or into a copy of it. Without the peer, only our rates are printed, with a note saying so.

    python benchmarks/loader.py [--size 160] [--patch 128] [--rounds 4] [--batches 10] [--crop-batches 10]
                                [--through-worker]

``--through-worker`` adds the same table measured through one worker process each (our trainer's DataLoader,
the NonDetMultiThreadedAugmenter nnU-Net v2 trains with), which includes sending the batches to the main
process.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import pickle
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from segmamba.data.preprocess import foreground_locations
from segmamba.train.augmentation import AugmentationConfig
from segmamba.train.dataloading import PatchBatches, StepLoader

PEER_INSTALL = "pip install nnunetv2==2.8.1 batchgeneratorsv2==0.3.6 (pin torch to the installed version)"


def write_case(root: Path, size: int, channels: int) -> None:
    """One case in our layout (root/case/) and nnU-Net v2's numpy layout (root/nnunet/case.*)."""
    rng = np.random.default_rng(0)
    folder = root / "case"
    folder.mkdir(parents=True)
    image = rng.standard_normal((channels, size, size, size), dtype=np.float32)
    axes = np.ogrid[:size, :size, :size]
    distance = np.sqrt(sum((a - size * 0.55) ** 2 for a in axes))
    label = np.choose(np.digitize(distance, [size * 0.08, size * 0.12, size * 0.2]), [1, 3, 2, 0]).astype(np.int8)
    locations = foreground_locations(label, 4)
    np.save(folder / "image.npy", image)
    np.save(folder / "label.npy", label[None])
    np.save(folder / "fg_locations.npy", locations)
    (folder / "properties.json").write_text(json.dumps({}))
    peer = root / "nnunet"
    peer.mkdir()
    (peer / "case.npy").symlink_to(folder / "image.npy")
    (peer / "case_seg.npy").symlink_to(folder / "label.npy")
    class_locations = {}
    for c in (1, 2, 3):  # nnU-Net's rows are (channel, x, y, z) of the (1, X, Y, Z) segmentation
        rows = locations[locations[:, 0] == c].copy()
        rows[:, 0] = 0
        class_locations[c] = rows.astype(np.int64)
    with open(peer / "case.pkl", "wb") as handle:
        pickle.dump({"class_locations": class_locations}, handle)


def peer_loaders(root: Path, patch: tuple[int, int, int]):
    """nnU-Net v2's training loaders (crop only, default augmentation) and its initial patch size for the
    augmented one, or (None, None) when it is not installed."""
    for variable in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        os.environ.setdefault(variable, str(root))  # silences nnU-Net's import-time warnings
    try:
        from nnunetv2.training.data_augmentation.compute_initial_patch_size import get_patch_size
        from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader
        from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetNumpy
        from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
        from nnunetv2.utilities.label_handling.label_handling import LabelManager
    except ImportError:
        return None, None
    dataset = nnUNetDatasetNumpy(str(root / "nnunet"), ["case"])
    labels = LabelManager({"background": 0, "a": 1, "b": 2, "c": 3}, regions_class_order=None)
    rotation = (-30.0 / 360 * 2 * np.pi, 30.0 / 360 * 2 * np.pi)  # configure_rotation_dummyDA_... for 3D
    initial = get_patch_size(patch, rotation, rotation, rotation, (0.85, 1.25))
    transforms = nnUNetTrainer.get_training_transforms(
        patch,
        rotation,
        None,
        (0, 1, 2),
        False,
        use_mask_for_norm=None,
        is_cascaded=False,
        foreground_labels=[1, 2, 3],
        regions=None,
        ignore_label=None,
    )
    crop = nnUNetDataLoader(dataset, 2, patch, patch, labels, oversample_foreground_percent=0.33, transforms=None)
    default = nnUNetDataLoader(
        dataset, 2, initial, patch, labels, oversample_foreground_percent=0.33, transforms=transforms
    )
    return {"crop only": crop, "default augmentation": default}, tuple(int(n) for n in initial)


def ours_stream(batches: PatchBatches, worker: bool, start: int, count: int):
    """(next batch, close) of our loader: in this process, or one DataLoader worker (the trainer's loader)."""
    if worker:
        loader = StepLoader(batches, 0, 1, start, start + count + 1, num_workers=1)
        return loader.__next__, loader.close
    steps = iter(range(start, start + count + 1))
    return lambda: batches.batch(next(steps)), lambda: None


def peer_stream(loader, worker: bool, seed: int):
    """(next batch, close) of the peer: in this process, or one worker of the augmenter nnU-Net v2 trains with."""
    if worker:
        from batchgenerators.dataloading.nondet_multi_threaded_augmenter import NonDetMultiThreadedAugmenter

        augmenter = NonDetMultiThreadedAugmenter(loader, None, 1, num_cached=6, seeds=[seed], wait_time=0.002)
        return augmenter.__next__, augmenter._finish
    return loader.generate_train_batch, lambda: None


def timed(stream, count: int) -> float:
    """Seconds for ``count`` batches of ``stream`` after one warm-up batch; closes the stream."""
    next_batch, close = stream
    try:
        next_batch()
        start = time.perf_counter()
        for _ in range(count):
            next_batch()
        return time.perf_counter() - start
    finally:
        close()


def load() -> str:
    """The machine's load averages (as ``uptime`` prints them)."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    """Print markdown tables: patches/s per worker, ours and the peer's, and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=160, help="edge of the preprocessed case (default 160)")
    parser.add_argument("--patch", type=int, default=128, help="patch edge (default 128)")
    parser.add_argument("--channels", type=int, default=4, help="image channels (default 4)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per configuration (default 4)")
    parser.add_argument(
        "--batches", type=int, default=10, help="batches of 2 per side and round with default augmentation (default 10)"
    )
    parser.add_argument(
        "--crop-batches", type=int, default=10, help="batches of 2 per side and round with crop only (default 10)"
    )
    parser.add_argument(
        "--through-worker",
        action="store_true",
        help="also time both through one worker process (our DataLoader, nnU-Net's NonDetMultiThreadedAugmenter)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    patch = (args.patch,) * 3
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_case(root, args.size, args.channels)
        peers, initial = peer_loaders(root, patch)
        ours = {
            "crop only": PatchBatches(root, ["case"], patch, batch_size=2, augment=False, seed=0),
            "default augmentation": PatchBatches(
                root, ["case"], patch, batch_size=2, augment=AugmentationConfig(), seed=0
            ),
        }
        versions = (
            ("nnU-Net v2 missing: " + PEER_INSTALL)
            if peers is None
            else (
                f"peer: nnunetv2 {importlib.metadata.version('nnunetv2')}, "
                f"batchgeneratorsv2 {importlib.metadata.version('batchgeneratorsv2')}, its initial patch "
                f"{'x'.join(map(str, initial))} with augmentation"
            )
        )
        print(
            f"patch {args.patch}^3, {args.channels} channels, case {args.size}^3, batch 2, one torch thread "
            f"per worker, {args.rounds} alternating rounds; torch {torch.__version__}; {versions}"
        )
        print(f"load before: {load()}")
        np.random.seed(0)  # the peer draws from numpy's global generator
        for worker in (False, True) if args.through_worker else (False,):
            where = "through one worker process" if worker else "in this process (what one worker computes)"
            print(f"\n{where}:\n")
            print("| configuration | ours patches/s | nnU-Net v2 patches/s | ours / nnU-Net v2 |")
            print("|---|---|---|---|")
            for name, batches in ours.items():
                count = args.crop_batches if name == "crop only" else args.batches
                ours_s = peer_s = 0.0
                for round_ in range(args.rounds):
                    ours_s += timed(ours_stream(batches, worker, round_ * 10_000, count), count)
                    if peers is not None:
                        peer_s += timed(peer_stream(peers[name], worker, round_), count)
                patches = 2 * count * args.rounds
                ours_rate = patches / ours_s
                peer_text, ratio_text = (
                    ("n/a", "n/a")
                    if peers is None
                    else (f"{patches / peer_s:.2f}", f"{ours_rate / (patches / peer_s):.2f}x")
                )
                print(f"| {name} | {ours_rate:.2f} | {peer_text} | {ratio_text} |", flush=True)
        print(f"\nload after: {load()}")


if __name__ == "__main__":
    main()
