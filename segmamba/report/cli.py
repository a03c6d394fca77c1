"""``segmamba report <artefact>``: command-line front end of :func:`segmamba.report.build.write_artefact`."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Write one table (CSV tidy, Markdown and LaTeX in the paper's layout, beside each other) or one figure (PNG)
from the results of the earlier steps. --inputs is a JSON object (or a file holding one) of the artefact's
inputs, e.g. for table2 {"layout": {dataset: {model: metrics CSV}}, "dataset_files": {dataset:
results/<dataset>/dataset.json}, "outcome_files": {dataset: {model: {"train_summary": path,
"metrics_summary": path}}}}; `snakemake -p` prints the full command of every report_<artefact> rule.
"""


def register(subparsers) -> None:
    """Register ``segmamba report`` on the top-level parser's subparsers."""
    from segmamba.report.build import ARTEFACTS

    parser = subparsers.add_parser(
        "report",
        help="write one table or figure (Tables 2-5, a dataset's own table, Fig. 4, curves, efficiency chart)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "artefact",
        choices=tuple(ARTEFACTS),
        help="; ".join(f"{name} (inputs: {artefact.inputs})" for name, artefact in ARTEFACTS.items()),
    )
    parser.add_argument("--inputs", required=True, metavar="JSON", help="the artefact's inputs: JSON object or file")
    parser.add_argument("--out", required=True, help="output file (a table: any of its .csv/.md/.tex, or the stem)")
    parser.set_defaults(func=handle_report)


def handle_report(args: argparse.Namespace) -> int:
    """Write the artefact."""
    from segmamba.job_timing import work
    from segmamba.report.build import write_artefact
    from segmamba.settings import read_json_argument

    with work():
        write_artefact(args.artefact, read_json_argument(args.inputs, "--inputs"), args.out)
    print(f"wrote {args.artefact} to {args.out}")
    return 0
