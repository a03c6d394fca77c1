"""``segmamba predict``: command-line front end of :func:`segmamba.predict.predictor.run_prediction`."""

from __future__ import annotations

import argparse
import logging
import sys

from segmamba.data.registry import DATASETS
from segmamba.predict.folder_cli import add_folder_mode, check_mode, handle_folder

DESCRIPTION = """\
Segment cases with a trained model: MONAI Gaussian sliding-window inference (roi = the training patch stored
in the checkpoint, overlap 0.5, sw_batch_size 2), averaging the logits of the 8 mirror flips (disable with
--no-tta), fp16 autocast on CUDA. Scores are resampled back to the original grid, argmax'ed and un-cropped;
each case is written as PRED_DIR/<case>.nii.gz (uint8 labels, original shape and affine).

Inputs: by default the preprocessed cases in --preprocessed (only the --subset of --split if given). With
--dataset/--root, raw scans in that dataset's layout are read instead (labels not needed: new scans), and
preprocessed exactly like the training data using --preprocessed/dataset.json.

Cases whose output already exists are skipped (a rerun after a kill continues) unless --overwrite.

The checkpoint must have been trained on the data at hand: its data fingerprint (split and preprocessing,
docs/provenance.md) must equal that of --split and --preprocessed (only the preprocessing without --split),
else it is refused. Checkpoints are loaded weights-only (a file holding other pickled objects is refused).
PRED_DIR/provenance.json records the checkpoint and its fingerprint; predictions of another checkpoint are
never added to a folder (use an empty one, or --overwrite).
"""


def register(subparsers) -> None:
    """Register ``segmamba predict`` on the top-level parser's subparsers (settings flags from PredictSettings)."""
    from segmamba.predict.settings import PredictSettings
    from segmamba.settings import add_settings_arguments

    parser = subparsers.add_parser(
        "predict",
        help="segment cases with a trained checkpoint (sliding window + mirror TTA)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--checkpoint", required=True, metavar="CKPT", help="checkpoint_final.pt or checkpoint_best.pt")
    add("--preprocessed", required=True, metavar="DIR", help="preprocessed training data (its dataset.json)")
    add("--out", required=True, metavar="PRED_DIR", help="output folder for <case>.nii.gz")
    add("--split", metavar="JSON", help="split.json; only the cases of --subset are predicted")
    add("--subset", default="test", help="split subset to predict (default test)")
    add("--dataset", choices=tuple(DATASETS), help="read raw scans of this dataset layout")
    add("--root", metavar="RAW", help="raw dataset folder for --dataset")
    add_settings_arguments(parser, PredictSettings)
    add("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    add_folder_mode(parser)
    parser.set_defaults(func=handle_predict)


def handle_predict(args: argparse.Namespace) -> int:
    """Run prediction as requested on the command line."""
    from segmamba.job_timing import work
    from segmamba.predict.predictor import run_prediction
    from segmamba.predict.settings import PredictSettings
    from segmamba.settings import settings_values

    check_mode(args)
    if args.model:
        return handle_folder(args)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    options = PredictSettings(**settings_values(args, PredictSettings))
    with work():
        result = run_prediction(
            args.checkpoint,
            args.preprocessed,
            args.out,
            options,
            split=args.split,
            subset=args.subset,
            dataset=args.dataset,
            raw_root=args.root,
            device=args.device,
        )
    from segmamba.ops import scan_backend_label

    logging.getLogger("segmamba.predict").info(
        "predicted %d case(s), skipped %d existing, into %s (scan backend: %s)",
        len(result["predicted"]),
        len(result["skipped"]),
        args.out,
        scan_backend_label() or "none, no Mamba layer",
    )
    return 0
