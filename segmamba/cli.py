"""The ``segmamba`` command line: one subcommand per pipeline step.

Each step's subcommands live in that step's package (``segmamba/<step>/cli.py``), which exposes
``register(subparsers)``; every subcommand sets ``func(args) -> int`` as its handler.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from segmamba import __version__
from segmamba.errors import InputError

STEP_CLI_MODULES = (
    "segmamba.models.cli",
    "segmamba.data.cli",
    "segmamba.training.cli",
    "segmamba.inference.cli",
    "segmamba.evaluation.cli",
    "segmamba.efficiency.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every step's subcommands registered."""
    parser = argparse.ArgumentParser(prog="segmamba", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"segmamba-bench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for module_name in STEP_CLI_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"segmamba {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
