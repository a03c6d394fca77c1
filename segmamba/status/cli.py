"""``segmamba status``: command-line front end of :func:`segmamba.status.report.status_text`."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Where is my run? One line per training run under RESULTS (any folder holding train_config.yaml): dataset,
model, seed (and fold if the settings have one), iteration/total, last validation Dice, elapsed training
time, ETA, whether it collapsed and whether it finished (else: how long ago it last wrote a file). Then per
dataset the tables and figures that exist. Reads only the files runs write (train_config.yaml,
train_log.csv, train_summary.json, checkpoint_final.pt's presence); progress is as of the last finished epoch.
"""


def register(subparsers) -> None:
    """Register ``segmamba status``."""
    parser = subparsers.add_parser(
        "status",
        help="state of every training run and the tables that exist",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", nargs="?", default="results", help="results folder (default results)")
    parser.set_defaults(func=handle_status)


def handle_status(args: argparse.Namespace) -> int:
    """Print the status report."""
    from segmamba.status.report import status_text

    print(status_text(args.results))
    return 0
