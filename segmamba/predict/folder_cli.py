"""The folder mode of ``segmamba predict`` (``--model M [--model M2] -i IN -o OUT``): its argument group and
handler, front end of :func:`segmamba.predict.folder.predict_folder`.

Kept apart from :mod:`segmamba.predict.cli` (the split/dataset mode), which calls :func:`add_folder_mode` and
hands over to :func:`handle_folder` when ``--model`` is given.
"""

from __future__ import annotations

import argparse
import logging
import sys

from segmamba.errors import InputError

#: The split/dataset mode's flags that the folder mode replaces (required only in that mode).
DATASET_MODE_FLAGS = ("checkpoint", "preprocessed", "out")
#: Options of the split/dataset mode only.
DATASET_MODE_OPTIONS = ("split", "dataset", "root")


def add_folder_mode(parser: argparse.ArgumentParser) -> None:
    """Add the folder-mode flags; the dataset mode's ``--checkpoint/--preprocessed/--out`` become optional."""
    for action in parser._actions:
        if action.dest in DATASET_MODE_FLAGS:
            action.required = False
    group = parser.add_argument_group(
        "predict any folder (see docs/use-your-trained-models.md)",
        "Segment every case of a folder named like nnU-Net's imagesTs (<case>_0000.nii.gz, <case>_0001...; "
        "single-channel also <case>.nii.gz; .nii.gz, .nii, .mha, .nrrd) with the model's own preprocessing; "
        "outputs <case>.<same format> in each input's geometry. Uses --tta/--no-tta, --overlap, "
        "--sw-batch-size, --overwrite and --device.",
    )
    group.add_argument(
        "--model",
        action="append",
        metavar="MODEL",
        help="trained run folder (with checkpoint_final.pt) or bundle .zip; repeat to ensemble (mean softmax)",
    )
    group.add_argument("-i", "--input", metavar="IN_DIR", help="folder of scans to segment")
    group.add_argument("-o", "--output", metavar="OUT_DIR", help="folder for the label maps")
    group.add_argument(
        "--save-probabilities",
        action="store_true",
        help="also write <case>.npz with the (ensembled) softmax probabilities (K, X, Y, Z)",
    )
    group.add_argument("--tta", dest="tta", action="store_true", default=argparse.SUPPRESS, help="mirror TTA (default)")


def check_mode(args: argparse.Namespace) -> None:
    """InputError unless the flags of exactly one mode are complete."""
    if args.model:
        if args.input is None or args.output is None:
            raise InputError("--model needs -i IN_DIR and -o OUT_DIR")
        given = [
            f"--{flag}" for flag in (*DATASET_MODE_FLAGS, *DATASET_MODE_OPTIONS) if getattr(args, flag) is not None
        ]
        if given:
            raise InputError(f"--model (folder mode) does not take {', '.join(given)}")
        return
    missing = [f"--{flag}" for flag in DATASET_MODE_FLAGS if getattr(args, flag) is None]
    if missing:
        raise InputError(f"give {', '.join(missing)} (or --model with -i/-o to predict a folder)")


def handle_folder(args: argparse.Namespace) -> int:
    """Predict a folder; exit code 1 when any case failed (all of them named), 0 otherwise."""
    from segmamba.predict.folder import predict_folder
    from segmamba.predict.settings import PredictSettings
    from segmamba.settings import settings_values

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    options = PredictSettings(**settings_values(args, PredictSettings))
    result = predict_folder(
        args.model, args.input, args.output, options, device=args.device, probabilities=args.save_probabilities
    )
    print(
        f"predicted {len(result.predicted)} case(s), skipped {len(result.skipped)} existing, "
        f"{len(result.failed)} failed, into {args.output}"
    )
    for case_id, reason in result.failed.items():
        print(f"segmamba predict: case {case_id} failed: {reason}", file=sys.stderr)
    return 1 if result.failed else 0
