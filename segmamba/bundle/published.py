"""``segmamba import-published``: turn the SegMamba authors' released BraTS2023 weights into a bundle.

The released checkpoint is the state dict of the published network (``SegMamba(in_chans=4, out_chans=4,
depths=[2,2,2,2], feat_size=[48,96,192,384])``), which loads strictly into this project's ``segmamba`` model
with its default arguments (see ``segmamba/models/nets/segmamba.py``). The bundle pairs it with the BraTS2023
preprocessing of this project (``segmamba/data/registry.py``: MRI, channels t2w, t2f, t1n, t1c, crop to the
non-zero box, per-channel z-score, 1 mm spacing) and the published 128^3 window, so ``segmamba predict
--model <bundle>`` segments new BraTS-style scans with the authors' weights.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from segmamba.bundle.format import write_bundle
from segmamba.bundle.source import build_model, package_version, utc_now
from segmamba.errors import InputError

PUBLISHED_DATASET = "brats2023"
PUBLISHED_MODEL = "segmamba"
PUBLISHED_PATCH = (128, 128, 128)
#: Keys under which a saved training state may nest the network's state dict.
NESTED_STATE_KEYS = ("state_dict", "model", "net")


def brats_preprocessing() -> dict[str, Any]:
    """The preprocessed ``dataset.json`` entries that BraTS2023 preprocessing writes (no case lists)."""
    from segmamba.data.preprocess import FORMAT_VERSION
    from segmamba.data.registry import DATASETS

    definition = DATASETS[PUBLISHED_DATASET]
    info = definition.info.to_json()
    return {
        **info,
        "format_version": FORMAT_VERSION,
        "target_spacing": [float(s) for s in definition.target_spacing],
        "normalisation": [{"scheme": "zscore"} for _ in info["channel_names"]],
    }


def read_state_dict(path: Path) -> dict:
    """The tensors of a saved state dict (``weights_only=True``), unnested and without ``module.`` prefixes."""
    import torch

    from segmamba.models.checkpoint import unwrap_state_dict

    if not path.is_file():
        raise InputError(f"state dict {path} does not exist")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise InputError(f"state dict {path} cannot be read with weights_only=True: {exc}") from exc
    while isinstance(loaded, dict) and not any(isinstance(v, torch.Tensor) for v in loaded.values()):
        nested = next((loaded[key] for key in NESTED_STATE_KEYS if isinstance(loaded.get(key), dict)), None)
        if nested is None:
            raise InputError(f"state dict {path}: no tensors (keys: {', '.join(map(str, list(loaded)[:8]))})")
        loaded = nested
    if not isinstance(loaded, dict):
        raise InputError(f"state dict {path}: holds a {type(loaded).__name__}, not a state dict")
    return unwrap_state_dict(loaded)


def import_published(
    state_dict_path: str | os.PathLike, bundle_path: str | os.PathLike, overrides: dict[str, Any] | None = None
) -> dict:
    """Write a bundle of the published BraTS2023 model with the weights of ``state_dict_path``.

    Args:
        state_dict_path: the released ``.pt`` (a state dict, possibly nested under ``state_dict``/``model``).
        bundle_path: the bundle to write.
        overrides: constructor keywords that differ from the published ones (None: the published model).

    Returns:
        The manifest written.

    Raises:
        InputError: unreadable file, or weights that do not load strictly into the model.
    """
    preprocessing = brats_preprocessing()
    state_dict = read_state_dict(Path(state_dict_path))
    spec = {
        "name": PUBLISHED_MODEL,
        "in_channels": len(preprocessing["channel_names"]),
        "out_channels": preprocessing["num_classes"],
        "patch_size": list(PUBLISHED_PATCH),
        "overrides": dict(overrides or {}),
    }
    manifest = {
        "package_version": package_version(),
        "created": utc_now(),
        "source": f"published SegMamba BraTS2023 weights {Path(state_dict_path).name}",
        "model": spec,
        "dataset": {key: preprocessing[key] for key in ("name", "channel_names", "label_names", "regions")}
        | {"num_classes": preprocessing["num_classes"]},
        "preprocessing": preprocessing,
        "training": None,
        "data_fingerprint": None,
        "scan_backend": None,
    }
    build_model(manifest, state_dict, str(state_dict_path))  # refuse weights that do not fit, before writing
    write_bundle(Path(bundle_path), manifest, state_dict)
    return manifest
