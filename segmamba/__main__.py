"""Allow ``python -m segmamba <subcommand>``."""

from segmamba.cli import run

run()
