"""``segmamba export``: pack a finished run folder into one portable bundle file."""

from __future__ import annotations

import os
from pathlib import Path

from segmamba.bundle.format import write_bundle
from segmamba.bundle.source import open_run_folder


def export_bundle(run_dir: str | os.PathLike, bundle_path: str | os.PathLike) -> dict:
    """Write the bundle of ``run_dir`` (which must hold ``checkpoint_final.pt``) to ``bundle_path``.

    Returns:
        The manifest written (see :mod:`segmamba.bundle.format`).
    """
    manifest, state_dict = open_run_folder(run_dir)
    write_bundle(Path(bundle_path), manifest, state_dict)
    return manifest
