"""Patch loader: shapes, foreground oversampling, padding, augmentation geometry and determinism."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from segmamba.data.augment import AugmentationConfig, spatial_margin, spatial_transform
from segmamba.data.datasets import open_dataset
from segmamba.data.loader import PatchBatches
from segmamba.data.preprocess import preprocess_dataset
from segmamba.data.split import write_split
from segmamba.data.synth import write_synthetic_dataset

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
    folder, ids = brats_preprocessed
    batches = PatchBatches(folder, ids, PATCH, batch_size=2, seed=5)
    with_workers = list(batches.iterate(start_iteration=4, num_workers=2, num_iterations=4))
    without = list(batches.iterate(start_iteration=4, num_workers=0, num_iterations=4))
    assert len(with_workers) == len(without) == 4
    for iteration, (a, b) in enumerate(zip(with_workers, without, strict=True), start=4):
        direct = batches.batch(iteration)
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["image"], direct["image"])
        assert torch.equal(a["label"], b["label"]) and torch.equal(a["label"], direct["label"])
