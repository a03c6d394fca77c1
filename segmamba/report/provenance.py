"""The report's provenance check: the models of one table must have been scored on the same split.

Every metrics summary (``<model>.summary.json`` from ``segmamba evaluate``) records the data fingerprint of the
predictions it scored (:mod:`segmamba.data.fingerprint`). A table that compared models trained and tested on
different splits would be meaningless, so it is refused with one error naming the files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

from segmamba.errors import InputError


def check_same_split(summaries: Mapping[str, str | os.PathLike | None]) -> None:
    """Raise InputError when the metrics summaries ``{model: path}`` record different split fingerprints.

    Missing files and summaries without a fingerprint (written by an older version) are not compared.
    """
    splits: dict[str, list[str]] = {}
    for path in summaries.values():
        if path is None or not os.path.isfile(path):
            continue
        try:
            fingerprint = json.loads(open(path).read()).get("data_fingerprint")
        except (OSError, json.JSONDecodeError, AttributeError) as exc:
            raise InputError(f"{path}: cannot read the metrics summary ({exc})") from exc
        if fingerprint and fingerprint.get("split"):
            splits.setdefault(json.dumps(fingerprint["split"], sort_keys=True), []).append(str(path))
    if len(splits) > 1:
        groups = "; ".join(
            f"seed {json.loads(key)['seed']}: {', '.join(paths)}" for key, paths in sorted(splits.items())
        )
        raise InputError(
            f"the metrics summaries of one table come from models of different splits ({groups}); "
            "rerun the workflow so that every model is trained and scored on the same split"
        )


def check_same_split_per_fold(files: Mapping[str, Mapping | Sequence[Mapping]]) -> None:
    """:func:`check_same_split` over a table's outcome files: ``{model: {"metrics_summary": path}}`` (one training
    per model), or ``{model: [run, ...]}`` under a protocol (runs with ``metrics_summary``, ``seed``, ``fold``),
    where the models' runs of one fold must share a split and different folds have different ones by design."""
    by_fold: dict[object, dict[str, str | None]] = {}
    for model, paths in files.items():
        for run in paths if isinstance(paths, Sequence) else [paths]:
            by_fold.setdefault(run.get("fold"), {})[f"{model} seed {run.get('seed')}"] = run.get("metrics_summary")
    for summaries in by_fold.values():
        check_same_split(summaries)
