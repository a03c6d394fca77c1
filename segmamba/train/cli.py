"""``segmamba train``: command-line front end of :func:`segmamba.train.trainer.run_training`."""

from __future__ import annotations

import argparse
import logging
import sys

DESCRIPTION = """\
Train one model on a preprocessed dataset with the published SegMamba recipe: SGD (lr 1e-2, momentum 0.99,
Nesterov, weight decay 3e-5), poly learning-rate decay (exponent 0.9) per iteration, cross-entropy over all
classes, 128^3 patches, batch 2 per process, 250 iterations per epoch, 1000 epochs, gradient-norm clipping at
12, AMP (fp16) on CUDA. Every value can be changed with a flag or a --config YAML file whose keys mirror the
flags (e.g. "iters-per-epoch: 50", "no-amp: true"); flags given on the command line win.

Every --val-every epochs the model is validated by whole-volume Gaussian sliding-window Dice on the val split
(mean over the dataset's regions); RUN_DIR gets checkpoint_best.pt (best val Dice), checkpoint_latest.pt
(resume state, rewritten every epoch), and at the end checkpoint_final.pt, train_log.csv, training_curve.png,
train_summary.json and train_config.yaml (the resolved settings).

Resume: rerunning the same command continues from RUN_DIR/checkpoint_latest.pt. On SIGTERM or SIGUSR1 (SLURM
time limit, preemption) the current iteration finishes, checkpoint_latest.pt is saved and the process exits
with code 75.

Several GPUs: either --nproc N (starts N local processes), or
  torchrun --standalone --nproc-per-node N -m segmamba train ...
Each process uses batch --batch-size; iterations per epoch are divided by N (as published). nccl is used on
CUDA, gloo on CPU.
"""


def register(subparsers) -> None:
    """Register ``segmamba train`` on the top-level parser's subparsers."""
    parser = subparsers.add_parser(
        "train",
        help="train a model (published SegMamba recipe; resumable, preemptible, DDP)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    add = parser.add_argument
    add("--config", metavar="YAML", help="settings file; keys mirror these flags (command-line flags win)")
    add("--preprocessed", metavar="DIR", help="preprocessed dataset folder (segmamba preprocess --out)")
    add("--split", metavar="JSON", help="split.json with train and val case lists")
    add("--model", metavar="NAME", help="model registry name (see segmamba models)")
    add("--out", metavar="RUN_DIR", help="run folder for checkpoints and logs")
    add("--epochs", type=int, help="number of epochs (default 1000)")
    add("--iters-per-epoch", type=int, help="iterations per epoch, divided by the number of processes (default 250)")
    add("--patch-size", type=int, nargs=3, metavar=("X", "Y", "Z"), help="training patch (default 128 128 128)")
    add("--batch-size", type=int, help="patches per process and iteration (default 2)")
    add("--lr", type=float, help="initial learning rate (default 1e-2)")
    add("--momentum", type=float, help="SGD momentum (default 0.99)")
    add("--no-nesterov", dest="nesterov", action="store_false", help="plain instead of Nesterov momentum")
    add("--weight-decay", type=float, help="SGD weight decay (default 3e-5)")
    add("--poly-exponent", type=float, help="exponent of the poly learning-rate decay (default 0.9)")
    add("--grad-clip", type=float, help="maximum gradient norm (default 12)")
    add("--loss", help="ce: cross-entropy (default, published) | dice_ce: soft Dice (foreground, batch) + CE")
    add("--oversample-foreground", type=float, help="fraction of foreground-centred patches (default 0.33)")
    add("--no-augment", dest="augment", action="store_false", help="disable data augmentation")
    add("--val-every", type=int, help="validate every K epochs (default 2; the last epoch always)")
    add("--val-overlap", type=float, help="sliding-window overlap for validation (default 0.5)")
    add("--max-val-cases", type=int, help="validate on at most N val cases (default: all)")
    add("--seed", type=int, help="random seed of initialisation and patch sampling (default 42)")
    add("--num-workers", type=int, help="data-loading worker processes (default 2; 0 = in the main process)")
    add("--model-overrides", metavar="JSON", help="model constructor keywords, e.g. '{\"feat_size\": [8,16,32,64]}'")
    add("--no-amp", dest="amp", action="store_false", help="disable fp16 autocast + GradScaler on CUDA")
    add("--device", help="auto | cpu | cuda | cuda:N (default auto; under torchrun auto = cuda:LOCAL_RANK)")
    add("--nproc", type=int, default=1, help="start N local DDP processes (default 1)")
    parser.set_defaults(func=handle_train)


def configure_logging() -> None:
    """Plain unbuffered log lines on stdout, unless the application configured logging already."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)


def handle_train(args: argparse.Namespace) -> int:
    """Build the configuration from defaults, --config and flags, then train (or launch N processes)."""
    from segmamba.train.config import build_config, read_config_file

    configure_logging()
    values = vars(args).copy()
    for key in ("func", "command", "nproc"):
        values.pop(key, None)
    config_path = values.pop("config", None)
    file_values = read_config_file(config_path) if config_path else {}
    config = build_config(file_values, values)
    if args.nproc > 1:
        from segmamba.train.launcher import launch_local
        from segmamba.train.trainer import write_config_copy

        return launch_local(args.nproc, write_config_copy(config))
    from segmamba.train.trainer import run_training

    return run_training(config)
