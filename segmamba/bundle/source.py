"""Open a trained model for prediction from a run folder or a bundle: ``(manifest, state_dict)``.

A run folder (``results/{dataset}/models/{model}/``) counts as trained when it holds ``checkpoint_final.pt``;
its preprocessing is the ``dataset.json`` of the preprocessed folder the run recorded in its settings
(``config.preprocessed``; when that relative path does not resolve from here, ``../../preprocessed`` beside
the run folder, the workflow's layout). Checkpoints are read with ``weights_only=True``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from segmamba.bundle.format import PRIVATE_PREPROCESSING_KEYS, read_bundle
from segmamba.errors import InputError

FINAL_CHECKPOINT = "checkpoint_final.pt"
SUMMARY = "train_summary.json"
#: Where a run may record the fingerprint of its training data (checkpoint or summary), first found wins.
FINGERPRINT_KEYS = ("data_fingerprint", "fingerprint")
#: train_summary.json entries copied into a bundle's ``training`` record.
SUMMARY_KEYS = ("best_val_dice", "best_epoch", "final_val_dice", "collapsed", "train_time_s", "torch_version")


def package_version() -> str:
    """This package's version."""
    from segmamba import __version__

    return __version__


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read_final_checkpoint(run_dir: Path) -> dict[str, Any]:
    """The payload of ``run_dir/checkpoint_final.pt`` (``weights_only=True``); InputError names what is wrong."""
    import torch

    from segmamba.models.checkpoint import CHECKPOINT_FORMAT

    path = run_dir / FINAL_CHECKPOINT
    if not path.is_file():
        present = sorted(p.name for p in run_dir.glob("checkpoint_*.pt"))
        raise InputError(
            f"model folder {run_dir} has no finished checkpoint {FINAL_CHECKPOINT} (training not finished; "
            f"present: {', '.join(present) or 'no checkpoint'})"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise InputError(f"checkpoint {path} cannot be read with weights_only=True: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"checkpoint {path} is not a segmamba-bench checkpoint")
    return payload


def find_dataset_json(run_dir: Path, checkpoint: Path, payload: dict) -> dict[str, Any]:
    """The preprocessed ``dataset.json`` of the run, checked against the checkpoint's training-data record."""
    from segmamba.models.checkpoint import check_checkpoint_dataset

    recorded = (payload.get("config") or {}).get("preprocessed")
    candidates = ([Path(recorded)] if recorded else []) + [run_dir.parent.parent / "preprocessed"]
    for folder in candidates:
        path = folder / "dataset.json"
        if path.is_file():
            try:
                dataset_json = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: not valid JSON ({exc})") from exc
            check_checkpoint_dataset(checkpoint, payload, folder, dataset_json)
            return dataset_json
    raise InputError(
        f"model folder {run_dir}: the dataset.json of its preprocessed data (which defines the preprocessing) is "
        f"in none of {', '.join(str(c) for c in candidates)}; export a bundle where the model was trained"
    )


def first_fingerprint(*records: dict[str, Any]) -> Any:
    """The data fingerprint of the first record holding one (None when none does)."""
    for record in records:
        for key in FINGERPRINT_KEYS:
            if record.get(key) is not None:
                return record[key]
    return None


def open_run_folder(run_dir: str | os.PathLike) -> tuple[dict[str, Any], dict]:
    """``(manifest, state_dict)`` of a finished run folder, the manifest as a bundle would hold it."""
    from segmamba.models.checkpoint import unwrap_state_dict

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"model folder {run_dir} does not exist")
    payload = read_final_checkpoint(run_dir)
    dataset_json = find_dataset_json(run_dir, run_dir / FINAL_CHECKPOINT, payload)
    summary_path = run_dir / SUMMARY
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    manifest = {
        "package_version": package_version(),
        "created": utc_now(),
        "source": f"run folder {run_dir.resolve()}",
        "model": payload["model"],
        "dataset": payload["dataset"],
        "preprocessing": {k: v for k, v in dataset_json.items() if k not in PRIVATE_PREPROCESSING_KEYS},
        "training": {
            "settings": payload.get("config"),
            "iteration": payload.get("iteration"),
            "epoch": payload.get("epoch"),
            "val_dice": payload.get("val_dice"),
            **{key: summary.get(key) for key in SUMMARY_KEYS},
        },
        "data_fingerprint": first_fingerprint(payload, summary),
        "scan_backend": summary.get("scan_backend"),
    }
    return manifest, unwrap_state_dict(payload["state_dict"])


def open_model(path: str | os.PathLike) -> tuple[dict[str, Any], dict]:
    """``(manifest, state_dict)`` of a run folder (a directory) or a bundle (a file)."""
    path = Path(path)
    if path.is_dir():
        return open_run_folder(path)
    if not path.exists():
        raise InputError(f"model {path} does not exist (give a run folder or a bundle .zip)")
    return read_bundle(path)


def build_model(manifest: dict[str, Any], state_dict: dict, name: str):
    """The model of a manifest with its weights loaded strictly (eval mode, on the CPU)."""
    from segmamba.models.checkpoint import build_from_spec

    model = build_from_spec(manifest["model"])
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise InputError(f"model {name}: weights do not fit model {manifest['model']['name']}: {exc}") from exc
    return model.eval()
