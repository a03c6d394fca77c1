"""A killed worker process is an error naming the step and the case it held, raised within seconds (no hang)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from segmamba.data import check as check_module
from segmamba.data import preprocess as preprocess_module
from segmamba.data.check import check_dataset
from segmamba.data.datasets import open_dataset
from segmamba.data.parallel import map_cases
from segmamba.data.preprocess import preprocess_dataset
from segmamba.data.split import write_split
from segmamba.data.synth import write_synthetic_dataset
from segmamba.errors import WorkerDiedError

PLANTED = "case_03"


def kill_self_on_planted(item: str) -> str:
    """Return the item after a short nap; SIGKILL this worker process on the planted one."""
    if item == PLANTED:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.2)
    return item


def test_results_come_back_in_order_from_two_workers():
    items = [f"case_{i:02d}" for i in range(6) if f"case_{i:02d}" != PLANTED]
    assert list(map_cases(kill_self_on_planted, items, workers=2, desc="demo")) == items


def test_a_sigkilled_worker_names_the_step_and_its_case_within_seconds():
    items = [f"case_{i:02d}" for i in range(8)]
    start = time.monotonic()
    with pytest.raises(WorkerDiedError, match=rf"^preprocess: a worker process died .* held case {PLANTED} \("):
        list(map_cases(kill_self_on_planted, items, workers=2, desc="preprocess"))
    assert time.monotonic() - start < 20  # spawning two interpreters included; the old Pool hung forever


def check_one_or_die(dataset, case_id):
    """check's per-case function, except that the worker dies on the planted case."""
    if case_id.endswith("002"):
        os.kill(os.getpid(), signal.SIGKILL)
    return original_check_one(dataset, case_id)


original_check_one = check_module._check_one


def test_segmamba_check_with_workers_fails_naming_the_case_of_the_killed_worker(tmp_path, monkeypatch):
    root = tmp_path / "raw"
    write_synthetic_dataset("crc", root, cases=4, size=16, seed=1)
    dataset = open_dataset("crc500", root)
    planted = next(c for c in dataset.case_ids() if c.endswith("002"))
    monkeypatch.setattr(check_module, "_check_one", check_one_or_die)
    with pytest.raises(WorkerDiedError, match=rf"^check: .* held case {planted} \("):
        check_dataset(dataset, workers=2)


def preprocess_or_die(dataset, dataset_json, out, case_id):
    """preprocess's per-case function, except that the worker dies on the planted case."""
    if case_id.endswith("001"):
        os.kill(os.getpid(), signal.SIGKILL)
    return original_preprocess_case(dataset, dataset_json, out, case_id)


original_preprocess_case = preprocess_module.preprocess_case


def test_preprocess_with_workers_fails_naming_the_case_and_writes_no_dataset_json(tmp_path, monkeypatch):
    root = tmp_path / "raw"
    write_synthetic_dataset("crc", root, cases=4, size=16, seed=1)
    write_split(tmp_path / "split.json", open_dataset("crc500", root).case_ids())
    monkeypatch.setattr(preprocess_module, "preprocess_case", preprocess_or_die)
    with pytest.raises(WorkerDiedError, match=r"^preprocess: .* held case CRC_001 \("):
        preprocess_dataset("crc500", root, tmp_path / "split.json", tmp_path / "pre", workers=2)
    assert not (tmp_path / "pre" / "dataset.json").exists()  # training refuses the folder
