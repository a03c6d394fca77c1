"""Patch loader: shapes, foreground oversampling, padding, augmentation geometry, determinism, workers, open files."""

import json
import os
import resource
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy import ndimage

from segmamba.data.datasets import open_dataset
from segmamba.data.preprocess import preprocess_dataset
from segmamba.data.split import write_split
from segmamba.data.synth import write_synthetic_dataset
from segmamba.errors import InputError
from segmamba.train.augmentation import AugmentationConfig, resample_patch, sample_spatial_matrix, sampled_box
from segmamba.train.dataloading import PatchBatches, StepLoader, crop_into, read_region

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
    assert batch["label"].shape == (3, 1, *PATCH) and batch["label"].dtype == torch.int8
    assert set(batch["label"].unique().tolist()) <= {0, 1, 2, 3}
    assert torch.isfinite(batch["image"]).all()


@pytest.mark.parametrize(
    ("batch_size", "oversample", "forced"),
    [
        (1, 0.33, [False]),
        (2, 0.33, [False, True]),
        (3, 0.33, [False, False, True]),
        (4, 0.33, [False, False, False, True]),
        (2, 1.0, [True, True]),
        (2, 0.0, [False, False]),
    ],
)
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


@pytest.mark.parametrize("flips", [(), (0, 2), (1,)])
def test_crop_with_mirroring_equals_padded_crop_flipped(flips):
    array = np.random.default_rng(0).normal(size=(2, 9, 7, 8)).astype(np.float32)
    padded = np.pad(array, ((0, 0), (6, 6), (6, 6), (6, 6)))
    for lower in [(0, 0, 0), (-3, 2, 4), (5, -6, -1), (7, 5, 6)]:
        out = np.full((2, 6, 5, 7), np.nan, np.float32)
        crop_into(out, array, lower, flips)
        box = padded[(slice(None), *(slice(lo + 6, lo + 6 + n) for lo, n in zip(lower, out.shape[1:], strict=True)))]
        expected = np.flip(box, axis=[a + 1 for a in flips]) if flips else box
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("flips", [(), (0, 1, 2), (2,)])
def test_rotated_scaled_patch_equals_affine_resampling_of_the_zero_padded_volume(flips):
    """Sampling from the clipped region (trilinear, nearest label) = scipy's affine_transform of the whole volume."""
    rng = np.random.default_rng(1)
    volume = ndimage.gaussian_filter(rng.normal(size=(2, 30, 26, 28)), (0, 2, 2, 2)).astype(np.float32)
    label = (volume[:1] > 0).astype(np.int8)
    patch = (12, 14, 10)
    config = replace(AugmentationConfig(), rotation_prob=1.0, scale_prob=1.0)
    for lower in [(9, 6, 8), (-4, 15, 20), (22, -5, 1)]:
        matrix = sample_spatial_matrix(rng, config)
        box_lower, box_upper = sampled_box(matrix, patch, lower)
        region, region_lower = read_region(volume, box_lower, box_upper)
        label_region, _ = read_region(label, box_lower, box_upper)
        centre = np.asarray(lower) + (np.asarray(patch) - 1) / 2
        image_out, label_out = torch.empty((2, *patch)), torch.empty((1, *patch), dtype=torch.int8)
        resample_patch(region, label_region, matrix, centre - region_lower, flips, image_out, label_out)
        offset = centre - matrix @ ((np.asarray(patch) - 1) / 2)  # volume position of output index 0
        for c in range(2):
            expected = ndimage.affine_transform(
                volume[c].astype(np.float64),
                matrix,
                offset,
                output_shape=patch,
                order=1,
                mode="grid-constant",
                cval=0.0,
            )
            expected = np.flip(expected, flips) if flips else expected
            np.testing.assert_allclose(image_out[c].numpy(), expected, atol=2e-4)
        nearest = ndimage.affine_transform(label[0], matrix, offset, output_shape=patch, order=0, mode="grid-constant")
        nearest = np.flip(nearest, flips) if flips else nearest
        assert (label_out[0].numpy() == nearest).mean() > 0.99  # ties at exactly .5 may round either way


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
