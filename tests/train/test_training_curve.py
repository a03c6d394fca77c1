"""training_curve.png: drawn at the end of a run, and during it only when the last drawing is CURVE_REDRAW_S old."""

from __future__ import annotations

from segmamba.train import run_outputs
from segmamba.train.run_outputs import CURVE_REDRAW_S, TrainingCurve

HISTORY = [
    {"epoch": 1, "iteration": 20, "loss": 0.9, "lr": 0.1, "val_dice": 0.2, "time": 5.0},
    {"epoch": 2, "iteration": 40, "loss": 0.5, "lr": 0.05, "val_dice": 0.7, "time": 10.0},
]


def test_the_curve_is_redrawn_when_due_and_at_the_end(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(run_outputs.time, "monotonic", lambda: clock[0])
    path = tmp_path / "training_curve.png"
    curve = TrainingCurve(path, "segmamba")

    clock[0] += CURVE_REDRAW_S - 1  # a short epoch: not drawn
    curve.update(HISTORY[:1])
    assert not path.exists()

    clock[0] += 1  # CURVE_REDRAW_S since the start: drawn
    curve.update(HISTORY[:1])
    first = path.read_bytes()
    assert first.startswith(b"\x89PNG")

    clock[0] += 1  # right after a drawing: not redrawn ...
    curve.update(HISTORY)
    assert path.read_bytes() == first
    curve.update(HISTORY, final=True)  # ... except at the end, with every epoch
    assert path.read_bytes() != first
