"""Collapse detection: a planted all-background model is named collapsed, a model that segments is not."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from segmamba.train.collapse import collapse_report, foreground_record
from segmamba.train.validation import score_case, validate_case

REGIONS = {"tumour": [1]}


class ConstantClass(nn.Module):
    """Predicts one class everywhere (class 0 = the planted all-background prediction)."""

    def __init__(self, predicted: int, classes: int = 2) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))  # predict_logits reads the device from a parameter
        self.predicted, self.classes = predicted, classes

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(image.shape[0], self.classes, *image.shape[2:]) + self.weight
        logits[:, self.predicted] = 1.0
        return logits


class Threshold(nn.Module):
    """Predicts foreground where the image is bright: on the test case, exactly the ground truth."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.cat([0.5 - image[:, :1], image[:, :1] - 0.5], dim=1) * self.weight


@pytest.fixture
def preprocessed(tmp_path):
    """One preprocessed case (16³) whose foreground is a 4×4×4 cube: 64 of 4,096 voxels."""
    label = np.zeros((1, 16, 16, 16), dtype=np.int8)
    label[0, 4:8, 4:8, 4:8] = 1
    case = tmp_path / "case1"
    case.mkdir()
    np.save(case / "image.npy", label.astype(np.float32))
    np.save(case / "label.npy", label)
    (case / "properties.json").write_text(json.dumps({}))
    return str(tmp_path)


def history_of(*validations: tuple[int, object], losses=(1.0, 0.5)) -> list[dict]:
    """Training history rows with the given losses; ``validations``: (epoch, CaseValidation) pairs."""
    rows = [{"epoch": epoch, "loss": loss, "val_foreground": None} for epoch, loss in enumerate(losses, start=1)]
    for epoch, case in validations:
        record = foreground_record(
            case.predicted_foreground, case.target_foreground, case.voxels, int(case.predicted_foreground == 0), cases=1
        )
        rows[epoch - 1]["val_foreground"] = record
    return rows


def test_planted_all_background_prediction_is_collapsed(preprocessed):
    case = validate_case(ConstantClass(0), preprocessed, "case1", REGIONS, (16, 16, 16), amp=False)
    assert case.predicted_foreground == 0 and case.target_foreground == 64 and case.voxels == 16**3
    assert case.dice == {"tumour": 0.0}
    report = collapse_report(history_of((2, case)))
    assert report["collapsed"] is True
    assert "predicted only background" in report["collapse_reason"] and "epoch 2" in report["collapse_reason"]
    assert "1.56 % foreground" in report["collapse_reason"]  # 64 / 4096
    (validation,) = report["collapse_check"]["validations"]
    assert validation == {
        "epoch": 2,
        "predicted_foreground": 0.0,
        "target_foreground": 64 / 4096,
        "background_only_cases": 1,
        "cases": 1,
    }


def test_model_that_segments_is_not_collapsed(preprocessed):
    case = validate_case(Threshold(), preprocessed, "case1", REGIONS, (16, 16, 16), amp=False)
    assert case.dice == {"tumour": pytest.approx(1.0)} and case.predicted_foreground == 64
    report = collapse_report(history_of((2, case)))
    assert report == {"collapsed": False, "collapse_reason": None, "collapse_check": report["collapse_check"]}
    assert report["collapse_check"]["validations"][0]["predicted_foreground"] == pytest.approx(64 / 4096)


def test_only_the_last_validation_decides():
    target = np.zeros((4, 4, 4), dtype=np.int8)
    target[0, 0, :2] = 1
    learned = score_case(target.copy(), target, REGIONS)
    empty = score_case(np.zeros_like(target), target, REGIONS)
    assert collapse_report(history_of((1, learned), (2, empty)))["collapsed"] is True
    assert collapse_report(history_of((1, empty), (2, learned)))["collapsed"] is False


def test_background_prediction_of_a_background_target_is_not_collapse():
    empty = np.zeros((4, 4, 4), dtype=np.int8)
    assert collapse_report(history_of((2, score_case(empty, empty, REGIONS))))["collapsed"] is False


@pytest.mark.parametrize(
    ("losses", "collapsed"),
    [((1.0, 0.8, 0.5), False), ((0.5, 0.7, 0.5), True), ((0.5, 0.9), True), ((0.5, math.nan), True), ((0.5,), False)],
)
def test_loss_that_does_not_fall_is_collapse(losses, collapsed):
    report = collapse_report(history_of(losses=losses))
    assert report["collapsed"] is collapsed
    if collapsed:
        assert report["collapse_reason"].startswith("the training loss did not fall (epoch 1: 0.5000")
    assert report["collapse_check"]["first_epoch_loss"] == losses[0]


def test_both_reasons_are_named():
    target = np.ones((2, 2, 2), dtype=np.int8)
    empty = score_case(np.zeros_like(target), target, REGIONS)
    reason = collapse_report(history_of((2, empty), losses=(0.4, 0.6)))["collapse_reason"]
    assert "predicted only background" in reason and "loss did not fall" in reason
