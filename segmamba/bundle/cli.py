"""``segmamba export`` and ``segmamba import-published``: command-line front ends of
:func:`segmamba.bundle.export.export_bundle` and :func:`segmamba.bundle.published.import_published`."""

from __future__ import annotations

import argparse
import json

from segmamba.errors import InputError

EXPORT_DESCRIPTION = """\
Pack a finished training run folder (results/<dataset>/models/<model>/, with checkpoint_final.pt) into one
zip file that holds the weights (a state dict, loadable with torch.load(weights_only=True)), the model name
and constructor arguments, the training dataset's definition and preprocessing (its preprocessed
dataset.json without the case lists), the training settings, the data fingerprint when the run recorded one,
the scan backend and the package version. `segmamba predict --model <bundle> -i IN -o OUT` uses it on any
machine with this package installed; see docs/use-your-trained-models.md.
"""

IMPORT_DESCRIPTION = """\
Turn the SegMamba authors' released BraTS2023 checkpoint (the published network's state dict) into a bundle
with this project's BraTS2023 preprocessing (channels t2w, t2f, t1n, t1c as <case>_0000..0003; crop to the
non-zero box, per-channel z-score, 1 mm spacing) and the published 128^3 window. The weights must load
strictly into the `segmamba` model (default: the published constructor arguments).
"""


def register(subparsers) -> None:
    """Register ``segmamba export`` and ``segmamba import-published``."""
    export = subparsers.add_parser(
        "export",
        help="pack a trained run folder into one portable model bundle (.zip)",
        description=EXPORT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("run_dir", metavar="MODEL_DIR", help="training run folder holding checkpoint_final.pt")
    export.add_argument("bundle", metavar="BUNDLE_ZIP", help="bundle file to write")
    export.set_defaults(func=handle_export)
    published = subparsers.add_parser(
        "import-published",
        help="make a model bundle of the SegMamba authors' released BraTS2023 weights",
        description=IMPORT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    published.add_argument("state_dict", metavar="STATE_DICT_PT", help="the released state dict (.pt/.pth)")
    published.add_argument("bundle", metavar="BUNDLE_ZIP", help="bundle file to write")
    published.add_argument(
        "--model-overrides",
        metavar="JSON",
        default="{}",
        help="constructor keywords that differ from the published model (default none)",
    )
    published.set_defaults(func=handle_import_published)


def handle_export(args: argparse.Namespace) -> int:
    """Write the bundle of a run folder."""
    from segmamba.bundle.export import export_bundle

    manifest = export_bundle(args.run_dir, args.bundle)
    print(f"wrote {args.bundle}: {manifest['model']['name']} trained on {manifest['dataset']['name']}")
    return 0


def handle_import_published(args: argparse.Namespace) -> int:
    """Write the bundle of the published weights."""
    from segmamba.bundle.published import import_published

    try:
        overrides = json.loads(args.model_overrides)
    except json.JSONDecodeError as exc:
        raise InputError(f"--model-overrides is not valid JSON: {exc}") from exc
    manifest = import_published(args.state_dict, args.bundle, overrides)
    print(f"wrote {args.bundle}: published {manifest['model']['name']} for {manifest['dataset']['name']}")
    return 0
