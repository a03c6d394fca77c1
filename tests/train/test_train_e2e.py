"""End-to-end tests of ``segmamba train`` on a tiny synthetic BraTS-like dataset (CPU, 16^3 patches).

Covered: outputs of a complete run, rerun = no-op, SIGTERM -> exit 75 + resume, SIGKILL + resume giving the
same weights as an uninterrupted run, SIGTERM to the whole process group with 2 loader workers (also under
DDP), DDP with two gloo processes through ``--nproc 2``, then predict.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from segmamba.models.checkpoint import load_model, read_checkpoint
from segmamba.train import PREEMPTED_EXIT_CODE
from segmamba.train.settings import build_settings
from segmamba.train.trainer import run_training

TINY_SEGRESNET = {"init_filters": 8, "blocks_down": [1, 1], "blocks_up": [1]}
EPOCHS, ITERS = 4, 3


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Four synthetic BraTS cases (16^3), preprocessed; split: 2 train, 1 val, 1 test."""
    from segmamba.data.preprocess import preprocess_dataset
    from segmamba.data.split import write_split
    from segmamba.data.synth import write_synthetic_dataset

    root = tmp_path_factory.mktemp("brats")
    ids = write_synthetic_dataset("brats", root / "raw", cases=4, size=16, seed=0)
    split = write_split(root / "split.json", ids)
    preprocess_dataset("brats2023", root / "raw", root / "split.json", root / "pre")
    split.update(train=ids[:2], val=[ids[2]], test=[ids[3]])
    (root / "split.json").write_text(json.dumps(split))
    return root


def val_foreground_fraction(root: Path) -> float:
    """Foreground fraction of the validation case's preprocessed label (negative labels are background)."""
    (case,) = json.loads((root / "split.json").read_text())["val"]
    return float((np.load(root / "pre" / case / "label.npy") > 0).mean())


def train_args(root: Path, out: Path, **extra) -> dict:
    """Settings of the tiny runs (as config values)."""
    return {
        "preprocessed": str(root / "pre"),
        "split": str(root / "split.json"),
        "model": "segresnet",
        "out": str(out),
        "epochs": EPOCHS,
        "iters_per_epoch": ITERS,
        "patch_size": (16, 16, 16),
        "val_every": 2,
        "num_workers": 0,
        "device": "cpu",
        "model_overrides": TINY_SEGRESNET,
        "seed": 7,
        **extra,
    }


def cli_command(settings: dict) -> list[str]:
    """The equivalent ``segmamba train`` command line."""
    command = [sys.executable, "-m", "segmamba", "train"]
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        if key == "model_overrides":
            command += [flag, json.dumps(value)]
        elif key == "patch_size":
            command += [flag, *map(str, value)]
        else:
            command += [flag, str(value)]
    return command


def train_in_process(settings: dict) -> int:
    """Run training in this process with one torch thread (as the subprocesses, for identical numerics)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_training(build_settings({}, settings))
    finally:
        torch.set_num_threads(threads)


def start_subprocess(settings: dict, extra_args: tuple[str, ...] = ()) -> subprocess.Popen:
    """Start ``segmamba train`` in a child process (one torch thread), in a process group of its own."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        cli_command(settings) + list(extra_args),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 240.0) -> None:
    """Wait until ``path`` exists while ``process`` is still running."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"training ended before {path.name} appeared:\n{process.stdout.read()}"
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout}s"
        time.sleep(0.05)


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    """State dict of a run's checkpoint_final.pt."""
    return read_checkpoint(run / "checkpoint_final.pt")["state_dict"]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def reference_run(dataset, tmp_path_factory):
    """An uninterrupted run."""
    out = tmp_path_factory.mktemp("runs") / "reference"
    assert train_in_process(train_args(dataset, out)) == 0
    return out


@pytest.mark.slow
def test_complete_run_writes_all_outputs_and_rerun_is_a_no_op(dataset, reference_run):
    for name in (
        "checkpoint_latest.pt",
        "checkpoint_best.pt",
        "checkpoint_final.pt",
        "train_log.csv",
        "training_curve.png",
        "train_summary.json",
        "train_config.yaml",
    ):
        assert (reference_run / name).is_file(), name
    rows = list(csv.DictReader((reference_run / "train_log.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, EPOCHS + 1))
    assert [int(r["iteration"]) for r in rows] == [ITERS * e for e in range(1, EPOCHS + 1)]
    assert [r["val_dice"] != "" for r in rows] == [e % 2 == 0 for e in range(1, EPOCHS + 1)]
    assert all(0.0 <= float(r["val_dice"]) <= 1.0 for r in rows if r["val_dice"])
    lrs = [float(r["lr"]) for r in rows]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 0.01
    summary = json.loads((reference_run / "train_summary.json").read_text())
    assert summary["iterations"] == EPOCHS * ITERS and summary["world_size"] == 1
    assert set(summary["final_val_dice_per_region"]) == {"WT", "TC", "ET", "mean"}
    assert isinstance(summary["collapsed"], bool) and (summary["collapse_reason"] is None) == (not summary["collapsed"])
    validations = summary["collapse_check"]["validations"]
    assert [v["epoch"] for v in validations] == [2, 4]
    assert all(v["target_foreground"] == pytest.approx(val_foreground_fraction(dataset)) for v in validations)
    assert all(0.0 <= v["predicted_foreground"] <= 1.0 and v["cases"] == 1 for v in validations)
    assert (reference_run / "training_curve.png").read_bytes()[:4] == b"\x89PNG"
    model, meta = load_model(reference_run / "checkpoint_best.pt", "cpu")
    assert meta["model"]["name"] == "segresnet" and meta["model"]["in_channels"] == 4
    assert model(torch.zeros(1, 4, 16, 16, 16)).shape == (1, 4, 16, 16, 16)
    before = final_weights(reference_run)
    assert train_in_process(train_args(dataset, reference_run)) == 0  # rerun of a finished run: nothing to do
    assert_same_weights(before, final_weights(reference_run))
    assert len(list(csv.DictReader((reference_run / "train_log.csv").open()))) == EPOCHS


@pytest.mark.slow
def test_sigterm_saves_latest_exits_75_and_rerun_resumes_to_same_weights(dataset, reference_run, tmp_path):
    out = tmp_path / "preempted"
    settings = train_args(dataset, out)
    process = start_subprocess(settings)
    wait_for(out / "checkpoint_latest.pt", process)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=240)[0]
    assert process.returncode == PREEMPTED_EXIT_CODE, output
    assert "SIGTERM" in output
    saved = read_checkpoint(out / "checkpoint_latest.pt")
    assert 0 < saved["iteration"] < EPOCHS * ITERS
    assert not (out / "checkpoint_final.pt").exists()
    assert train_in_process(settings) == 0
    assert_same_weights(final_weights(reference_run), final_weights(out))
    rows = list(csv.DictReader((out / "train_log.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, EPOCHS + 1))


@pytest.mark.slow
def test_sigterm_to_the_process_group_with_two_workers_exits_75_and_resumes_exactly(dataset, reference_run, tmp_path):
    """What SLURM does at a time limit: every process of the job (main and loader workers) gets SIGTERM."""
    out = tmp_path / "group"
    settings = train_args(dataset, out, num_workers=2)
    process = start_subprocess(settings)
    wait_for(out / "checkpoint_latest.pt", process)
    os.killpg(process.pid, signal.SIGTERM)
    output = process.communicate(timeout=240)[0]
    assert process.returncode == PREEMPTED_EXIT_CODE, output
    assert "SIGTERM received" in output and "killed by signal" not in output
    assert 0 < read_checkpoint(out / "checkpoint_latest.pt")["iteration"] < EPOCHS * ITERS
    assert train_in_process(settings) == 0  # resumed with the same 2 workers
    assert_same_weights(final_weights(reference_run), final_weights(out))


@pytest.mark.slow
def test_sigterm_to_the_process_group_of_a_ddp_run_with_workers_exits_75(dataset, tmp_path):
    """`--nproc 2` with 2 workers per rank: launcher, ranks and workers all get SIGTERM; latest is saved once."""
    out = tmp_path / "ddp_group"
    settings = train_args(dataset, out, epochs=10, iters_per_epoch=2, num_workers=2)
    process = start_subprocess(settings, ("--nproc", "2"))
    wait_for(out / "checkpoint_latest.pt", process, timeout=400)
    os.killpg(process.pid, signal.SIGTERM)
    output = process.communicate(timeout=240)[0]
    assert process.returncode == PREEMPTED_EXIT_CODE, output
    assert output.count("SIGTERM received") == 1 and "killed by signal" not in output
    saved = read_checkpoint(out / "checkpoint_latest.pt")
    assert saved["world_size"] == 2 and 0 < saved["iteration"] < 10
    assert not (out / "checkpoint_final.pt").exists()


@pytest.mark.slow
def test_sigkill_and_resume_gives_identical_weights(dataset, reference_run, tmp_path):
    out = tmp_path / "killed"
    settings = train_args(dataset, out)
    process = start_subprocess(settings)
    wait_for(out / "checkpoint_latest.pt", process)
    process.kill()
    process.communicate(timeout=60)
    assert not (out / "checkpoint_final.pt").exists()
    killed_at = read_checkpoint(out / "checkpoint_latest.pt")["iteration"]
    assert 0 < killed_at < EPOCHS * ITERS
    assert train_in_process(settings) == 0
    assert_same_weights(final_weights(reference_run), final_weights(out))
    reference_summary = json.loads((reference_run / "train_summary.json").read_text())
    resumed_summary = json.loads((out / "train_summary.json").read_text())
    assert resumed_summary["best_val_dice"] == reference_summary["best_val_dice"]


def test_resume_refuses_another_model_configuration(dataset, reference_run):
    from segmamba.errors import ConfigError

    with pytest.raises(ConfigError, match="model_overrides"):
        train_in_process(train_args(dataset, reference_run, model_overrides={**TINY_SEGRESNET, "init_filters": 16}))


@pytest.mark.slow
def test_changed_settings_stop_or_with_restart_on_change_train_anew_keeping_the_old_run(
    dataset, reference_run, tmp_path
):
    from segmamba.errors import ConfigError

    out = tmp_path / "changed"
    shutil.copytree(reference_run, out)
    old_latest = read_checkpoint(out / "checkpoint_latest.pt")["state_dict"]
    with pytest.raises(ConfigError, match=r"other settings or data \(lr: 0\.01 -> 0\.02\).*--restart-on-change"):
        train_in_process(train_args(dataset, out, lr=0.02))
    assert train_in_process(train_args(dataset, out, lr=0.02, restart_on_change=True)) == 0
    (superseded,) = out.glob("superseded-*")
    assert_same_weights(
        old_latest,
        read_checkpoint(superseded / "checkpoint_latest.pt")["state_dict"],
    )
    fresh = tmp_path / "fresh"
    assert train_in_process(train_args(dataset, fresh, lr=0.02)) == 0
    assert_same_weights(final_weights(fresh), final_weights(out))  # a run of its own, not a continuation
    assert len(list(csv.DictReader((out / "train_log.csv").open()))) == EPOCHS


@pytest.mark.slow
def test_ddp_two_gloo_processes_match_single_process_step_on_global_batch(dataset, tmp_path):
    """`--nproc 2`: one iteration per process; the weights equal one single-process step on both batches."""
    from segmamba.models import checkpoint as model_checkpoint
    from segmamba.runtime import seed_everything
    from segmamba.train.dataloading import PatchBatches
    from segmamba.train.step import make_optimizer, train_step

    out = tmp_path / "ddp"
    overrides = {**TINY_SEGRESNET, "dropout_prob": 0.0}  # dropout masks differ per rank by design
    settings = train_args(dataset, out, epochs=1, iters_per_epoch=2, model_overrides=overrides)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        cli_command(settings) + ["--nproc", "2"], env=env, capture_output=True, text=True, timeout=400
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["iterations_per_epoch"] == 1 and summary["iterations"] == 1
    (validation,) = summary["collapse_check"]["validations"]  # one case, validated on rank 0, summed over ranks
    assert validation["cases"] == 1
    assert validation["target_foreground"] == pytest.approx(val_foreground_fraction(dataset))
    ddp_state = read_checkpoint(out / "checkpoint_final.pt")["state_dict"]
    assert not any(key.startswith("module.") for key in ddp_state)

    config = build_settings({}, settings)
    seed_everything(config.seed)
    model = model_checkpoint.build_from_spec(
        model_checkpoint.model_spec("segresnet", 4, 4, config.patch_size, overrides)
    )
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    train_ids = json.loads((dataset / "split.json").read_text())["train"]
    batches = PatchBatches(dataset / "pre", train_ids, config.patch_size, config.batch_size, seed=config.seed)
    global_batch = {k: torch.cat([batches.batch(0)[k], batches.batch(1)[k]]) for k in ("image", "label")}
    train_step(
        model,
        make_optimizer(model, config),
        torch.amp.GradScaler("cpu", enabled=False),
        global_batch,
        config.lr,
        config.grad_clip,
        amp=False,
    )
    changed = 0
    for key, value in model.state_dict().items():
        changed += not torch.equal(value, initial[key])
        torch.testing.assert_close(ddp_state[key], value, rtol=1e-4, atol=1e-6)
    assert changed > 0


@pytest.mark.slow
def test_predict_with_trained_checkpoint_on_test_split(dataset, reference_run, tmp_path):
    from segmamba.predict.predictor import run_prediction
    from segmamba.predict.settings import PredictSettings

    result = run_prediction(
        reference_run / "checkpoint_final.pt",
        dataset / "pre",
        tmp_path / "pred",
        PredictSettings(tta=True),
        split=dataset / "split.json",
        subset="test",
    )
    (case_id,) = result["predicted"]
    raw = nib.load(dataset / "raw" / case_id / f"{case_id}-t1c.nii.gz")
    prediction = nib.load(tmp_path / "pred" / f"{case_id}.nii.gz")
    assert prediction.shape == raw.shape
    np.testing.assert_allclose(prediction.affine, raw.affine)
    assert set(np.unique(np.asarray(prediction.dataobj))) <= {0, 1, 2, 3}
