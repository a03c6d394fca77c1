"""``segmamba train``: command-line front end of :func:`segmamba.train.trainer.run_training`."""

from __future__ import annotations

import argparse
import logging
import sys

DESCRIPTION = """\
Train one model on a preprocessed dataset with the published SegMamba recipe: SGD (lr 1e-2, momentum 0.99,
Nesterov, weight decay 3e-5), poly learning-rate decay (exponent 0.9) per iteration, cross-entropy over all
classes, 128^3 patches, batch 2 per process, 250 iterations per epoch, 1000 epochs, gradient-norm clipping at
12, AMP (fp16) on CUDA. Every value can be changed with a flag, or all at once with --settings (a JSON object,
or a JSON/YAML file, whose keys are the settings' names, e.g. '{"iters_per_epoch": 50, "amp": false}'; flag
names such as "no-amp: true" work too); flags given on the command line win.

Every --val-every epochs (default 10) the model is validated by whole-volume Gaussian sliding-window Dice on
the val split (mean over the dataset's regions); RUN_DIR gets checkpoint_best.pt (best val Dice), checkpoint_latest.pt
(resume state, rewritten every epoch), and at the end checkpoint_final.pt, train_log.csv, training_curve.png,
train_summary.json and train_config.yaml (the resolved settings).

Resume: rerunning the same command continues from RUN_DIR/checkpoint_latest.pt (or, when that cannot be read,
checkpoint_latest.prev.pt, the generation before). A checkpoint of other settings or data (another split or
preprocessing: its data fingerprint differs, docs/provenance.md) is not resumed: an error names what changed,
or with --restart-on-change the old checkpoints move to RUN_DIR/superseded-<UTC time>/ and training starts
anew. On SIGTERM or SIGUSR1 (SLURM time limit, preemption) the current iteration or validation case finishes,
checkpoint_latest.pt is saved and the process exits with code 75. A second training in the same RUN_DIR is
refused (a lock names the PID and host holding it).

Several GPUs: either --nproc N (starts N local processes), or
  torchrun --standalone --nproc-per-node N -m segmamba train ...
Each process uses batch --batch-size; iterations per epoch are divided by N (as published). nccl is used on
CUDA, gloo on CPU.
"""


def register(subparsers) -> None:
    """Register ``segmamba train`` on the top-level parser's subparsers (settings flags from TrainSettings)."""
    from segmamba.settings import add_settings_arguments
    from segmamba.train.settings import TrainSettings

    parser = subparsers.add_parser(
        "train",
        help="train a model (published SegMamba recipe; resumable, preemptible, DDP)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    add = parser.add_argument
    add("--preprocessed", metavar="DIR", help="preprocessed dataset folder (segmamba preprocess --out)")
    add("--split", metavar="JSON", help="split.json with train and val case lists")
    add("--model", metavar="NAME", help="model registry name (see segmamba models)")
    add("--out", metavar="RUN_DIR", help="run folder for checkpoints and logs")
    add("--nproc", type=int, default=1, help="start N local DDP processes (default 1)")
    add_settings_arguments(parser, TrainSettings)
    parser.set_defaults(func=handle_train)


def configure_logging() -> None:
    """Plain unbuffered log lines on stdout, unless the application configured logging already."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)


def handle_train(args: argparse.Namespace) -> int:
    """Build the settings from defaults, --settings and flags, then train (or launch N processes)."""
    from segmamba.train.settings import build_settings, read_settings_file

    configure_logging()
    values = vars(args).copy()
    for key in ("func", "command", "nproc"):
        values.pop(key, None)
    settings_argument = values.pop("settings", None)
    file_values = read_settings_file(settings_argument) if settings_argument else {}
    settings = build_settings(file_values, values)
    if args.nproc > 1:
        from segmamba.train.launcher import launch_local
        from segmamba.train.run_outputs import write_settings_copy

        return launch_local(args.nproc, write_settings_copy(settings))
    from segmamba.job_timing import work
    from segmamba.train.trainer import run_training

    with work():
        return run_training(settings)
