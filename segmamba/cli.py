"""The ``segmamba`` command line: one subcommand per pipeline step.

``SUBCOMMANDS`` maps every subcommand to the stage module that registers it (``segmamba/<stage>/cli.py``,
which exposes ``register(subparsers)`` and holds argparse only); each subcommand's handler
``func(args) -> int`` calls one function of the stage's implementation. The stage map (docs/stage-map.md) lists the
same pairs, and a test keeps both true.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from segmamba import __version__, job_timing
from segmamba.errors import InputError, StepError
from segmamba.runtime import apply_job_threads, exit_process

#: subcommand -> the stage module that registers it.
SUBCOMMANDS = {
    "models": "segmamba.models.cli",
    "synth": "segmamba.data.cli",
    "check": "segmamba.data.cli",
    "split": "segmamba.data.cli",
    "fold-split": "segmamba.data.cli",
    "preprocess": "segmamba.data.cli",
    "train": "segmamba.train.cli",
    "predict": "segmamba.predict.cli",
    "ground-truth": "segmamba.evaluate.cli",
    "evaluate": "segmamba.evaluate.cli",
    "efficiency": "segmamba.efficiency.cli",
    "report": "segmamba.report.cli",
    "export": "segmamba.bundle.cli",
    "import-published": "segmamba.bundle.cli",
    "status": "segmamba.status.cli",
}


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every stage's subcommands registered (checked against SUBCOMMANDS)."""
    parser = argparse.ArgumentParser(prog="segmamba", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"segmamba-bench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for module_name in dict.fromkeys(SUBCOMMANDS.values()):
        before = set(subparsers.choices)
        importlib.import_module(module_name).register(subparsers)
        registered = set(subparsers.choices) - before
        expected = {name for name, module in SUBCOMMANDS.items() if module == module_name}
        if registered != expected:
            raise RuntimeError(f"{module_name} registers {sorted(registered)}, SUBCOMMANDS says {sorted(expected)}")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code.

    Before any stage module is imported, the job's thread count (``OMP_NUM_THREADS``, set by Snakemake) is
    applied to torch, numba and BLAS (:func:`segmamba.runtime.apply_job_threads`). A command that timed its
    work and did not fail ends with its timing line on stderr (:mod:`segmamba.job_timing`).
    """
    start = time.perf_counter()
    job_timing.reset()
    apply_job_threads()
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args) or 0)
    except (InputError, StepError) as exc:
        print(f"segmamba {args.command}: error: {exc}", file=sys.stderr)
        return 2
    line = job_timing.report_line(args.command, time.perf_counter() - start)
    if line is not None:
        print(line, file=sys.stderr, flush=True)
    return code


def run() -> None:
    """The ``segmamba`` console script: :func:`main` on ``sys.argv``, then the process ends with its exit code.

    A command that returns ends through :func:`segmamba.runtime.exit_process` (its ``atexit`` handlers run and its
    output is flushed, but the 1-2 s teardown of torch's and MONAI's modules is skipped); an uncaught exception
    ends the process as usual, with its traceback.
    """
    exit_process(main())


if __name__ == "__main__":
    run()
