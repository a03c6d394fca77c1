"""Patch-loader throughput per worker: patches/s at 128^3 with the augmentation pipeline.

Writes one synthetic preprocessed case (default 4 x 160^3 float32 with a tumour-like label) to a temporary
folder and times ``PatchBatches.batch`` in this process on one torch thread (what one DataLoader worker does).

    python benchmarks/loader.py [--size 160] [--patch 128] [--batches 4] [--with-elastic]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from segmamba.data.augment import AugmentationConfig
from segmamba.data.loader import PatchBatches
from segmamba.data.preprocess import foreground_locations


def write_case(folder: Path, size: int, channels: int) -> None:
    """One preprocessed case: smooth random image, a spherical 3-class tumour label."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    image = rng.standard_normal((channels, size, size, size), dtype=np.float32)
    axes = np.ogrid[:size, :size, :size]
    distance = np.sqrt(sum((a - size * 0.55) ** 2 for a in axes))
    label = np.digitize(distance, [size * 0.08, size * 0.12, size * 0.2])
    label = np.choose(label, [1, 3, 2, 0]).astype(np.int8)
    np.save(folder / "image.npy", image)
    np.save(folder / "label.npy", label[None])
    np.save(folder / "fg_locations.npy", foreground_locations(label, 4))
    (folder / "properties.json").write_text(json.dumps({}))


def patches_per_second(batches: PatchBatches, count: int) -> float:
    """Time ``count`` batches after one warm-up batch; returns patches per second."""
    batches.batch(10_000)
    start = time.perf_counter()
    for iteration in range(count):
        batches.batch(iteration)
    return count * batches.batch_size / (time.perf_counter() - start)


def main() -> None:
    """Print a markdown table of patches/s per configuration."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=160, help="edge of the preprocessed case (default 160)")
    parser.add_argument("--patch", type=int, default=128, help="patch edge (default 128)")
    parser.add_argument("--channels", type=int, default=4, help="image channels (default 4)")
    parser.add_argument("--batches", type=int, default=4, help="timed batches of 2 per configuration (default 4)")
    parser.add_argument("--with-elastic", action="store_true", help="also time elastic deformation (slow)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    default = AugmentationConfig()
    configs = {
        "no augmentation": False,
        "default probabilities (nnU-Net)": default,
        "every augmentation on every patch": default.all_on(),
        "every augmentation, cubic image interpolation": replace(default.all_on(), image_interpolation=3),
    }
    if args.with_elastic:
        configs["every augmentation + elastic"] = replace(default, elastic_prob=1.0).all_on()
    configs = {name: (replace(c, elastic_prob=0.0) if c and "elastic" not in name else c)
               for name, c in configs.items()}
    with tempfile.TemporaryDirectory() as tmp:
        write_case(Path(tmp) / "case", args.size, args.channels)
        print(f"patch {args.patch}^3, {args.channels} channels, case {args.size}^3, batch 2, 1 thread (one worker)\n")
        print("| configuration | patches/s per worker | s per patch |")
        print("|---|---|---|")
        for name, config in configs.items():
            batches = PatchBatches(tmp, ["case"], (args.patch,) * 3, batch_size=2, augment=config, seed=0)
            rate = patches_per_second(batches, args.batches)
            print(f"| {name} | {rate:.2f} | {1 / rate:.2f} |", flush=True)


if __name__ == "__main__":
    main()
