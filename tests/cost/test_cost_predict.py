"""The prediction log: one record per measured case, kept across reruns, rewritten after each case."""

from __future__ import annotations

import json
import time

import torch

from segmamba.cost.predict import LOG_FORMAT, PREDICTION_LOG, PredictionCostLog, read_prediction_log

CPU = torch.device("cpu")


def test_records_each_case_and_a_rerun_keeps_the_others(tmp_path):
    log = PredictionCostLog(tmp_path, CPU)
    with log.measure("a"):
        time.sleep(0.05)
    assert json.loads((tmp_path / PREDICTION_LOG).read_text())["cases"]["a"]["seconds"] >= 0.05  # written at once
    rerun = PredictionCostLog(tmp_path, CPU)
    with rerun.measure("b"):
        pass
    content = read_prediction_log(tmp_path / PREDICTION_LOG)
    assert content["format"] == LOG_FORMAT and sorted(content["cases"]) == ["a", "b"]
    assert content["cases"]["b"] == {
        "seconds": content["cases"]["b"]["seconds"],
        "device": "cpu",
        "gpu_name": None,
        "peak_memory_allocated_mb": None,
        "peak_memory_reserved_mb": None,
        "energy_kwh": None,
    }
    assert content["cases"]["b"]["seconds"] < content["cases"]["a"]["seconds"]


def test_a_failing_case_is_not_recorded_and_a_foreign_file_is_replaced(tmp_path, caplog):
    (tmp_path / PREDICTION_LOG).write_text("[1, 2]")
    log = PredictionCostLog(tmp_path, CPU)
    assert "not a" in caplog.text and log.content["cases"] == {}
    try:
        with log.measure("broken"):
            raise RuntimeError("out of memory")
    except RuntimeError:
        pass
    assert "broken" not in log.content["cases"]
    assert json.loads((tmp_path / PREDICTION_LOG).read_text()) == [1, 2]  # nothing measured yet: untouched
