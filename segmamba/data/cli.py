"""Command-line subcommands of the data step (placeholder until the step lands)."""


def register(subparsers) -> None:
    """Register this step's subcommands on the top-level parser's subparsers."""
