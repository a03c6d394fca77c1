"""Shared helpers of the training safety tests (no tests here; ``from tiny_training import ...``): a tiny
preprocessed BraTS-like dataset and in-process runs of ``segmamba train`` on it."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from segmamba.models.checkpoint import read_checkpoint
from segmamba.train.settings import build_settings
from segmamba.train.trainer import run_training

TINY_SEGRESNET = {"init_filters": 8, "blocks_down": [1, 1], "blocks_up": [1]}


def make_dataset(root: Path) -> Path:
    """Six synthetic BraTS cases (16^3), preprocessed; split.json (seed 42) with 3 train, 2 val, 1 test."""
    from segmamba.data.preprocess import preprocess_dataset
    from segmamba.data.split import write_split
    from segmamba.data.synth import write_synthetic_dataset

    ids = write_synthetic_dataset("brats", root / "raw", cases=6, size=16, seed=0)
    split = write_split(root / "split.json", ids)
    preprocess_dataset("brats2023", root / "raw", root / "split.json", root / "pre")
    split.update(train=ids[:3], val=ids[3:5], test=ids[5:])
    (root / "split.json").write_text(json.dumps(split))
    return root


def settings(root: Path, out: Path, **extra) -> dict:
    """Settings of a tiny run: 2 epochs x 2 iterations, validated after each epoch, on CPU."""
    return {
        "preprocessed": str(root / "pre"),
        "split": str(root / "split.json"),
        "model": "segresnet",
        "out": str(out),
        "epochs": 2,
        "iters_per_epoch": 2,
        "patch_size": (16, 16, 16),
        "val_every": 1,
        "num_workers": 0,
        "device": "cpu",
        "model_overrides": TINY_SEGRESNET,
        "seed": 3,
        **extra,
    }


def train(values: dict) -> int:
    """Run a training in this process with one torch thread; returns its exit code."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_training(build_settings({}, values))
    finally:
        torch.set_num_threads(threads)


def weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict of a checkpoint."""
    return read_checkpoint(path)["state_dict"]


def assert_same_weights(a: dict, b: dict) -> None:
    """Bit-identical state dicts."""
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
