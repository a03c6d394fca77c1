"""Checkpoints never run code, survive a cut-short write, and one run folder holds one training at a time;
a stop signal during a validation is honoured between validation cases."""

from __future__ import annotations

import csv
import logging
import os
import re
import signal
import subprocess
import sys

import pytest
import torch
from tiny_training import assert_same_weights, make_dataset, settings, train, weights

from segmamba.errors import ConfigError, InputError
from segmamba.models import checkpoint as model_checkpoint
from segmamba.train import PREEMPTED_EXIT_CODE
from segmamba.train import checkpoint as ckpt
from segmamba.train import trainer as trainer_module
from segmamba.train.run_lock import RunFolderLock


class CodeOnLoad:
    """A pickled object whose unpickling would create a marker file (what a malicious checkpoint does)."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("safety"))


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory):
    """An uninterrupted tiny run."""
    out = tmp_path_factory.mktemp("runs") / "reference"
    assert train(settings(dataset, out)) == 0
    return out


def test_a_pickle_payload_in_checkpoint_latest_is_refused_unrun(dataset, tmp_path):
    marker = tmp_path / "PWNED"
    out = tmp_path / "run"
    out.mkdir()
    torch.save({"format": model_checkpoint.CHECKPOINT_FORMAT, "state": CodeOnLoad(marker)}, out / ckpt.LATEST)
    with pytest.raises(InputError, match=r"checkpoint_latest.pt is refused: .*could run code"):
        train(settings(dataset, out))
    assert not marker.exists()


def test_checkpoints_load_weights_only_and_keep_the_previous_latest(reference):
    for name in (ckpt.LATEST, ckpt.PREVIOUS, ckpt.BEST, ckpt.FINAL):
        payload = torch.load(reference / name, map_location="cpu", weights_only=True)  # plain data and tensors
        assert payload["format"] == model_checkpoint.CHECKPOINT_FORMAT
    latest, previous = (
        model_checkpoint.read_checkpoint(reference / ckpt.LATEST),
        model_checkpoint.read_checkpoint(reference / ckpt.PREVIOUS),
    )
    assert (latest["state"]["iteration"], previous["state"]["iteration"]) == (4, 2)


def test_a_truncated_latest_checkpoint_falls_back_to_the_previous_one(dataset, reference, tmp_path, caplog):
    out = tmp_path / "run"
    out.mkdir()
    for name in (ckpt.LATEST, ckpt.PREVIOUS):
        (out / name).write_bytes((reference / name).read_bytes())
    with open(out / ckpt.LATEST, "r+b") as handle:  # a write cut short by a crash
        handle.truncate(os.path.getsize(out / ckpt.LATEST) // 2)
    with caplog.at_level(logging.INFO, logger="segmamba.train"):
        assert train(settings(dataset, out)) == 0
    assert "resuming from the previous generation" in caplog.text and "at iteration 2/4" in caplog.text
    assert_same_weights(weights(out / ckpt.FINAL), weights(reference / ckpt.FINAL))  # resumed exactly


LOCK_HOLDER = """
import sys, time
from segmamba.train.run_lock import RunFolderLock
RunFolderLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(120)
"""


def test_a_second_training_in_a_locked_run_folder_is_refused_naming_the_holder(dataset, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match=rf"run folder .*run is in use by another training \(pid {holder.pid} on"):
            train(settings(dataset, out))
    finally:
        holder.kill()  # SIGKILL: the kernel releases the lock
        holder.wait()
    stale = [out / ".checkpoint_latest.pt.999.tmp", out / ".train_log.csv.k2j3.tmp.csv"]
    for path in stale:
        path.write_bytes(b"partial")
    lock = RunFolderLock(out).acquire()  # free again after the holder died
    lock.release()
    assert train(settings(dataset, out, epochs=1)) == 0
    assert not any(path.exists() for path in stale)  # swept at the start


def test_sigterm_during_validation_stops_between_cases_and_resumes_exactly(dataset, reference, tmp_path, monkeypatch):
    validated = []
    real_validate_case = trainer_module.validate_case

    def validate_case_then_signal(*args, **kwargs):
        validated.append(args[2])
        if len(validated) == 3:  # the first of the two cases of epoch 2's validation
            os.kill(os.getpid(), signal.SIGTERM)
        return real_validate_case(*args, **kwargs)

    out = tmp_path / "run"
    monkeypatch.setattr(trainer_module, "validate_case", validate_case_then_signal)
    assert train(settings(dataset, out)) == PREEMPTED_EXIT_CODE
    assert len(validated) == 3  # the second case was not validated
    state = model_checkpoint.read_checkpoint(out / ckpt.LATEST)["state"]
    assert state["iteration"] == 4 and state["epoch_pending"] and len(state["history"]) == 1
    assert not (out / ckpt.FINAL).exists()
    monkeypatch.undo()
    assert train(settings(dataset, out)) == 0
    assert_same_weights(weights(out / ckpt.FINAL), weights(reference / ckpt.FINAL))
    assert_same_weights(weights(out / ckpt.BEST), weights(reference / ckpt.BEST))

    def log_rows(run):
        return [{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader(open(run / "train_log.csv"))]

    assert log_rows(out) == log_rows(reference)


@pytest.mark.parametrize(
    ("failure", "cause"),
    [
        (OSError(28, "No space left on device"), "no space left on the device (ENOSPC: No space left on device)"),
        (
            RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 2211328 vs 2211216"),
            "unexpected pos",
        ),
    ],
)
def test_a_full_disk_while_saving_a_checkpoint_names_the_path_and_keeps_the_old_one(
    tmp_path, monkeypatch, failure, cause
):
    """torch reports a full disk as a RuntimeError naming neither the file nor the disk."""
    from segmamba.errors import OutputWriteError

    path = tmp_path / "checkpoint_latest.pt"
    ckpt.save_checkpoint(path, {"weights": torch.ones(2)})

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(
        OutputWriteError, match=rf"^could not write {re.escape(str(path))}: .*{re.escape(cause)}.*MiB free"
    ):
        ckpt.save_checkpoint(path, {"weights": torch.zeros(2)})
    assert torch.equal(model_checkpoint.read_checkpoint(path)["weights"], torch.ones(2))  # the old checkpoint is intact
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint_latest.pt"]  # no partial temporary left
