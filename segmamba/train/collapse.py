"""Naming a collapsed training: its final validation predicts only background, or its loss does not fall.

A collapsed model scores Dice 0 on every case, which a table would show as a bare 0, indistinguishable from
a model that learned a little. The trainer records, per validation, how much foreground the model predicted
(``foreground_record``), and at the end of the run ``collapse_report`` turns the history into the
``collapsed`` / ``collapse_reason`` / ``collapse_check`` fields of ``train_summary.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def foreground_record(
    predicted_foreground: float, target_foreground: float, voxels: float, background_only_cases: float, cases: int
) -> dict[str, float | int]:
    """What one validation tells about collapse, from counts summed over the validation cases.

    Args:
        predicted_foreground: voxels predicted as any foreground class.
        target_foreground: foreground voxels of the ground truth.
        voxels: voxels of all validation cases.
        background_only_cases: validation cases whose prediction holds no foreground voxel.
        cases: validation cases.

    Returns:
        ``{"predicted_foreground": fraction, "target_foreground": fraction, "background_only_cases": int,
        "cases": int}``, the fractions relative to ``voxels``.
    """
    return {
        "predicted_foreground": predicted_foreground / voxels if voxels else 0.0,
        "target_foreground": target_foreground / voxels if voxels else 0.0,
        "background_only_cases": int(round(background_only_cases)),
        "cases": int(cases),
    }


def collapse_report(history: Sequence[Mapping]) -> dict:
    """The collapse fields of ``train_summary.json`` from the training history (one row per finished epoch).

    A training is collapsed when
    - its last validation predicted only background on every validation case although the ground truth has
      foreground (rows carry ``val_foreground`` from ``foreground_record``, None when not validated), or
    - its mean loss did not fall from the first to the last epoch (a NaN loss counts as not falling); this needs
      two epochs.

    Returns:
        ``{"collapsed": bool, "collapse_reason": str or None, "collapse_check": {...}}``, where
        ``collapse_check`` holds what the decision used: every validation's foreground record (with its
        epoch) and the first and last epoch's loss.
    """
    validations = [{"epoch": row["epoch"], **row["val_foreground"]} for row in history if row.get("val_foreground")]
    reasons = []
    if validations:
        last = validations[-1]
        if last["cases"] and last["background_only_cases"] == last["cases"] and last["target_foreground"] > 0:
            reasons.append(
                f"the last validation (epoch {last['epoch']}) predicted only background on all {last['cases']} "
                f"case(s), whose ground truth is {100 * last['target_foreground']:.2f} % foreground"
            )
    first_loss = history[0]["loss"] if history else None
    last_loss = history[-1]["loss"] if history else None
    if len(history) >= 2 and not last_loss < first_loss:
        reasons.append(
            f"the training loss did not fall (epoch {history[0]['epoch']}: {first_loss:.4f}, "
            f"epoch {history[-1]['epoch']}: {last_loss:.4f})"
        )
    return {
        "collapsed": bool(reasons),
        "collapse_reason": "; ".join(reasons) if reasons else None,
        "collapse_check": {"validations": validations, "first_epoch_loss": first_loss, "last_epoch_loss": last_loss},
    }
