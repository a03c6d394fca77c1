"""Unit tests of the training step: LR schedule, config merging, checkpoints, one SGD step."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from segmamba.errors import ConfigError, InputError
from segmamba.models import checkpoint as model_checkpoint
from segmamba.train import PREEMPTED_EXIT_CODE
from segmamba.train import checkpoint as ckpt
from segmamba.train.launcher import combined_exit_code
from segmamba.train.settings import TrainSettings, build_settings, read_settings_file
from segmamba.train.step import make_optimizer, poly_lr, step_seed, train_step

REQUIRED = {"preprocessed": "pre", "split": "split.json", "model": "segresnet", "out": "run"}


def tiny_net(in_channels: int = 2, classes: int = 3) -> nn.Module:
    """A two-layer conv net, enough to learn intensity -> class."""
    return nn.Sequential(nn.Conv3d(in_channels, 8, 3, padding=1), nn.ReLU(), nn.Conv3d(8, classes, 1))


def synthetic_batch(seed: int, batch: int = 2, size: int = 8, classes: int = 3) -> dict[str, torch.Tensor]:
    """Labels are blocks of classes; channel 0 equals the class index plus noise (a learnable mapping)."""
    generator = torch.Generator().manual_seed(seed)
    label = torch.randint(0, classes, (batch, 1, 2, 2, 2), generator=generator)
    label = label.repeat_interleave(size // 2, 2).repeat_interleave(size // 2, 3).repeat_interleave(size // 2, 4)
    noise = 0.3 * torch.randn(batch, 2, size, size, size, generator=generator)
    image = torch.cat([label.float(), torch.zeros_like(label, dtype=torch.float32)], 1) + noise
    return {"image": image, "label": label}


def test_poly_lr_matches_formula_and_ends_at_zero():
    assert poly_lr(0.01, 0, 1000) == pytest.approx(0.01)
    assert poly_lr(0.01, 500, 1000) == pytest.approx(0.01 * 0.5**0.9)
    assert poly_lr(0.01, 250, 1000, exponent=2.0) == pytest.approx(0.01 * 0.75**2)
    assert poly_lr(0.01, 1000, 1000) == 0.0
    values = [poly_lr(0.01, t, 100) for t in range(100)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))


def test_defaults_are_the_published_recipe():
    config = build_settings({}, REQUIRED)
    assert (config.lr, config.momentum, config.nesterov, config.weight_decay) == (1e-2, 0.99, True, 3e-5)
    assert (config.poly_exponent, config.grad_clip, config.amp) == (0.9, 12.0, True)
    assert (config.patch_size, config.batch_size, config.iters_per_epoch, config.epochs) == ((128,) * 3, 2, 250, 1000)


def test_config_file_keys_mirror_flags_and_flags_win(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text(
        'iters-per-epoch: 7\nno-amp: true\npatch_size: [16, 16, 32]\nlr: 0.5\nmodel-overrides: {"init_filters": 8}\n'
    )
    config = build_settings(read_settings_file(path), {**REQUIRED, "lr": 0.1})
    assert config.iters_per_epoch == 7 and config.amp is False and config.patch_size == (16, 16, 32)
    assert config.lr == 0.1 and config.model_overrides == {"init_filters": 8}
    path.write_text("learning-rate: 1\n")
    with pytest.raises(ConfigError, match="learning-rate"):
        read_settings_file(path)
    with pytest.raises(ConfigError, match="--split"):
        build_settings({}, {"preprocessed": "p", "model": "m", "out": "o"})
    with pytest.raises(ConfigError, match="JSON"):
        build_settings({}, {**REQUIRED, "model_overrides": "{bad"})
    with pytest.raises(ConfigError, match="val_overlap"):
        build_settings({}, {**REQUIRED, "val_overlap": 1.5})


@pytest.mark.slow
def test_train_step_decreases_loss_on_learnable_case():
    torch.manual_seed(0)
    model = tiny_net()
    config = TrainSettings(**REQUIRED)
    optimizer = make_optimizer(model, config)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    batch = synthetic_batch(0)
    losses = [train_step(model, optimizer, scaler, batch, poly_lr(0.01, t, 60), 12.0, amp=False) for t in range(60)]
    assert losses[-1] < 0.7 * losses[0]
    assert all(math.isfinite(v) for v in losses)


def test_train_step_clips_gradient_norm():
    torch.manual_seed(0)
    model = tiny_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    batch = synthetic_batch(1)
    batch["image"] = batch["image"] * 1000  # huge gradients
    before = [p.detach().clone() for p in model.parameters()]
    train_step(model, optimizer, scaler, batch, lr=1.0, grad_clip=0.5, amp=False)
    # plain SGD with lr 1: the update is the clipped gradient, whose global norm is at most 0.5
    update = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(model.parameters(), before, strict=True)))
    assert 0.1 < float(update) <= 0.5 + 1e-5


def test_region_dice_on_hand_counted_maps():
    from segmamba.train.validation import region_dice

    prediction = np.array([0, 1, 1, 2, 3, 3])
    target = np.array([0, 1, 2, 2, 2, 3])
    assert region_dice(prediction, target, [1]) == pytest.approx(2 * 1 / 3)
    assert region_dice(prediction, target, [1, 2, 3]) == pytest.approx(2 * 5 / 10)
    assert region_dice(prediction, target, [3]) == pytest.approx(2 * 1 / 3)
    assert region_dice(np.zeros(4), np.zeros(4), [3]) == 1.0
    assert region_dice(np.zeros(4), np.full(4, 3), [3]) == 0.0


def test_step_seed_is_pure_and_distinct():
    assert step_seed(42, 0, 5) == step_seed(42, 0, 5)
    assert len({step_seed(42, r, t) for r in range(2) for t in range(50)}) == 100


def test_checkpoint_roundtrip_rebuilds_model_and_strips_module_prefix(tmp_path):
    spec = model_checkpoint.model_spec(
        "segresnet", 2, 3, (16, 16, 16), {"init_filters": 8, "blocks_down": [1, 1], "blocks_up": [1]}
    )
    model = model_checkpoint.build_from_spec(spec)
    state = {"module." + k: v + 1.0 if v.is_floating_point() else v for k, v in model.state_dict().items()}
    ckpt.save_checkpoint(tmp_path / "c.pt", {"model": spec, "state_dict": state, "dataset": {}, "iteration": 3})
    loaded, meta = model_checkpoint.load_model(tmp_path / "c.pt", "cpu")
    assert meta["model"] == spec and meta["iteration"] == 3 and "state_dict" not in meta
    assert not loaded.training
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, state["module." + key])
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="bad.pt"):
        model_checkpoint.load_model(tmp_path / "bad.pt")
    with pytest.raises(InputError, match="missing.pt"):
        model_checkpoint.load_model(tmp_path / "missing.pt")


def test_combined_exit_code_reports_preemption_first():
    assert combined_exit_code([0, 0]) == 0
    assert combined_exit_code([0, PREEMPTED_EXIT_CODE]) == PREEMPTED_EXIT_CODE
    assert combined_exit_code([0, 3]) == 3


def test_cli_help_lists_recipe_flags(capsys):
    from segmamba.cli import build_parser

    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in (
        "--preprocessed",
        "--split",
        "--model",
        "--out",
        "--epochs",
        "--iters-per-epoch",
        "--patch-size",
        "--batch-size",
        "--lr",
        "--val-every",
        "--seed",
        "--num-workers",
        "--model-overrides",
        "--no-amp",
        "--device",
        "--max-val-cases",
        "--settings",
        "--nproc",
        "torchrun",
    ):
        assert flag in text


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ('{"epochs": "8"}', "setting 'epochs' must be an integer, got '8'"),
        ('{"amp": "false"}', "setting 'amp' must be true or false, got 'false'"),
        ('{"augment": "no"}', "setting 'augment' must be true or false, got 'no'"),
        ('{"no-amp": 1}', "setting 'no-amp' must be true or false, got 1"),
        ('{"lr": "1e-2"}', "setting 'lr' must be a number, got '1e-2'"),
        ('{"patch_size": [16, 16.5, 16]}', "setting 'patch_size' must be a list of ints"),
        ('{"max_val_cases": "all"}', "setting 'max_val_cases' must be an integer or null"),
        ('{"model_overrides": [1]}', "setting 'model_overrides' must be a mapping"),
        ('{"epochs": true}', "setting 'epochs' must be an integer, got True"),
        ('{"epoch": 8}', "unknown setting 'epoch'"),
    ],
)
def test_settings_by_hand_are_type_checked_naming_the_key(block, message, capsys):
    from segmamba.cli import main

    args = ["train", "--preprocessed", "pre", "--split", "split.json", "--model", "segresnet", "--out", "run"]
    assert main([*args, "--settings", block]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error


def test_well_typed_settings_by_hand_are_accepted():
    values = read_settings_file('{"lr": 1, "amp": false, "max_val_cases": null, "patch_size": [16, 16, 16]}')
    settings = build_settings(values, REQUIRED)
    assert (settings.lr, settings.amp, settings.max_val_cases, settings.patch_size) == (1, False, None, (16, 16, 16))
