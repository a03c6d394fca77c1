"""Patch loader: shapes, foreground oversampling, padding, augmentation geometry and determinism."""

import json
import math
import os
import resource
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest
import torch

from segmamba.data.augment import AugmentationConfig, spatial_margin, spatial_transform
from segmamba.data.datasets import open_dataset
from segmamba.data.loader import PatchBatches, StepLoader
from segmamba.data.preprocess import preprocess_dataset
from segmamba.data.split import write_split
from segmamba.data.synth import write_synthetic_dataset
from segmamba.errors import InputError

PATCH = (16, 16, 16)


@pytest.fixture(scope="module")
def brats_preprocessed(tmp_path_factory):
    root = tmp_path_factory.mktemp("loader")
    write_synthetic_dataset("brats", root / "raw", cases=3, size=24, seed=2)
    ids = open_dataset("brats2023", root / "raw").case_ids()
    write_split(root / "split.json", ids)
    preprocess_dataset("brats2023", root / "raw", root / "split.json", root / "pre")
    return root / "pre", ids


def write_case(folder, image, label):
    folder.mkdir(parents=True)
    np.save(folder / "image.npy", image.astype(np.float32))
    np.save(folder / "label.npy", label.astype(np.int8)[None])
    rows = [[c, *xyz] for c in range(1, int(label.max()) + 1) for xyz in np.argwhere(label == c)]
    np.save(folder / "fg_locations.npy", np.array(rows, np.int32).reshape(-1, 4))
    (folder / "properties.json").write_text(json.dumps({}))


def test_batch_shapes_and_types(brats_preprocessed):
    folder, ids = brats_preprocessed
    batch = PatchBatches(folder, ids, PATCH, batch_size=3, seed=1).batch(0)
    assert batch["image"].shape == (3, 4, *PATCH) and batch["image"].dtype == torch.float32
    assert batch["label"].shape == (3, 1, *PATCH) and batch["label"].dtype == torch.int64
    assert set(batch["label"].unique().tolist()) <= {0, 1, 2, 3}
    assert torch.isfinite(batch["image"]).all()


@pytest.mark.parametrize(("batch_size", "oversample", "forced"),
                         [(1, 0.33, [False]), (2, 0.33, [False, True]), (3, 0.33, [False, False, True]),
                          (4, 0.33, [False, False, False, True]), (2, 1.0, [True, True]), (2, 0.0, [False, False])])
def test_oversampling_rule(tmp_path, batch_size, oversample, forced):
    write_case(tmp_path / "c", np.zeros((1, 8, 8, 8)), np.zeros((8, 8, 8)))
    batches = PatchBatches(tmp_path, ["c"], (8, 8, 8), batch_size, oversample_foreground=oversample)
    assert [batches.forced_foreground(j) for j in range(batch_size)] == forced


def test_forced_samples_contain_foreground(tmp_path):
    label = np.zeros((32, 32, 32))
    label[28:31, 2:5, 20:23] = 1  # a small object near a corner: random patches mostly miss it
    write_case(tmp_path / "c", np.random.default_rng(0).normal(size=(1, 32, 32, 32)), label)
    batches = PatchBatches(tmp_path, ["c"], (8, 8, 8), batch_size=3, augment=False, seed=4)
    forced = [bool((batches.batch(i)["label"][2] > 0).any()) for i in range(15)]
    random = [bool((batches.batch(i)["label"][0] > 0).any()) for i in range(15)]
    assert all(forced) and not all(random)


def test_volume_smaller_than_patch_is_padded_symmetrically(tmp_path):
    write_case(tmp_path / "c", np.ones((2, 10, 10, 10)), np.ones((10, 10, 10)))
    batch = PatchBatches(tmp_path, ["c"], PATCH, batch_size=2, oversample_foreground=0, augment=False).batch(7)
    inside = (slice(None), slice(None), slice(3, 13), slice(3, 13), slice(3, 13))
    assert (batch["image"][inside] == 1).all() and batch["image"].sum() == 2 * 2 * 1000
    assert (batch["label"][inside] == 1).all() and batch["label"].sum() == 2 * 1000


def test_spatial_margin_covers_the_rotated_and_scaled_patch():
    rng = np.random.default_rng(0)
    config = AugmentationConfig()
    for _ in range(10):
        angles = list(rng.uniform(-1, 1, 3) * math.radians(30))
        factor = float(rng.uniform(0.7, 1.4))
        margin = spatial_margin(PATCH, angles, factor)
        region = torch.ones((1, *[p + 2 * m for p, m in zip(PATCH, margin, strict=True)]))
        out = spatial_transform(PATCH, angles, factor, config)({"image": region, "label": region.clone()})
        assert out["image"].shape == (1, *PATCH)
        assert torch.allclose(out["image"].as_tensor(), torch.ones(1, *PATCH), atol=1e-4)


def test_batches_depend_only_on_seed_and_iteration(brats_preprocessed):
    folder, ids = brats_preprocessed
    config = replace(AugmentationConfig().all_on(), elastic_prob=0.0)
    first = PatchBatches(folder, ids, PATCH, batch_size=2, augment=config, seed=11)
    second = PatchBatches(folder, ids, PATCH, batch_size=2, augment=config, seed=11)
    second.batch(99)  # a different history must not matter
    for iteration in (0, 5):
        a, b = first.batch(iteration), second.batch(iteration)
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    assert not torch.equal(first.batch(0)["image"], first.batch(1)["image"])
    other_seed = PatchBatches(folder, ids, PATCH, batch_size=2, augment=config, seed=12)
    assert not torch.equal(first.batch(0)["image"], other_seed.batch(0)["image"])


def test_all_augmentations_keep_valid_outputs(brats_preprocessed):
    folder, ids = brats_preprocessed
    config = AugmentationConfig(elastic_prob=1.0).all_on()
    plain = PatchBatches(folder, ids, PATCH, batch_size=2, augment=False, seed=3).batch(0)
    augmented = PatchBatches(folder, ids, PATCH, batch_size=2, augment=config, seed=3).batch(0)
    assert augmented["image"].shape == plain["image"].shape and torch.isfinite(augmented["image"]).all()
    assert set(augmented["label"].unique().tolist()) <= {0, 1, 2, 3}
    assert not torch.equal(augmented["image"], plain["image"])


def test_workers_give_the_same_batches_as_no_workers(brats_preprocessed):
    """The trainer's loader: batch of step s on rank r of w is batch(s * w + r), for any number of workers."""
    folder, ids = brats_preprocessed
    batches = PatchBatches(folder, ids, PATCH, batch_size=2, seed=5)
    with StepLoader(batches, rank=1, world_size=2, start=4, stop=8, num_workers=2) as loader:
        with_workers = list(loader)
    without = list(StepLoader(batches, rank=1, world_size=2, start=4, stop=8, num_workers=0))
    assert len(with_workers) == len(without) == 4
    for step, (a, b) in enumerate(zip(with_workers, without, strict=True), start=4):
        direct = batches.batch(step * 2 + 1)
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["image"], direct["image"])
        assert torch.equal(a["label"], b["label"]) and torch.equal(a["label"], direct["label"])


@contextmanager
def open_file_limit(soft: int):
    """Lower this process's soft RLIMIT_NOFILE (inherited by forked workers) for the block."""
    previous = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, previous[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, previous)


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(scope="module")
def many_cases(tmp_path_factory):
    """300 tiny preprocessed cases (1 x 6^3)."""
    root = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(0)
    ids = [f"case_{i:03d}" for i in range(300)]
    for case_id in ids:
        label = np.zeros((6, 6, 6))
        label[2:4, 2:4, 2:4] = 1
        write_case(root / case_id, rng.normal(size=(1, 6, 6, 6)), label)
    return root, ids


def test_many_cases_with_two_workers_under_a_low_open_file_limit(many_cases):
    """2 workers drawing from 300 cases (600 arrays) within ~40 descriptors above what is open already."""
    folder, ids = many_cases
    batches = PatchBatches(folder, ids, (6, 6, 6), batch_size=2, augment=False, seed=0)
    drawn = set()
    with open_file_limit(open_descriptors() + 40), StepLoader(batches, 0, 1, 0, 250, num_workers=2) as loader:
        for batch in loader:
            drawn.add(float(batch["image"][0].sum()))
    assert len(drawn) > 150  # most cases were opened


def test_open_file_limit_reached_is_one_clear_error(many_cases):
    folder, ids = many_cases
    batches = PatchBatches(folder, ids, (6, 6, 6), batch_size=1, augment=False, seed=0)
    with open_file_limit(3), pytest.raises(InputError) as caught:  # only stdin, stdout and stderr fit
        batches.batch(0)
    message = str(caught.value)
    assert message.startswith("case case_") and ".npy: too many open files" in message
    assert "`ulimit -n`, is 3" in message and "\n" not in message


def test_error_in_a_worker_is_raised_as_it_was(tmp_path):
    write_case(tmp_path / "good", np.ones((1, 6, 6, 6)), np.ones((6, 6, 6)))
    write_case(tmp_path / "bad", np.ones((1, 6, 6, 6)), np.ones((6, 6, 6)))
    (tmp_path / "bad" / "image.npy").write_bytes(b"not an array")
    batches = PatchBatches(tmp_path, ["good", "bad"], (6, 6, 6), batch_size=4, augment=False, seed=0)
    with StepLoader(batches, 0, 1, 0, 8, num_workers=2) as loader, pytest.raises(InputError) as caught:
        list(loader)
    assert str(caught.value).startswith(f"case bad: {tmp_path / 'bad' / 'image.npy'}: unreadable or corrupt")
    assert "Traceback" not in str(caught.value) and "DataLoader worker" not in str(caught.value)
