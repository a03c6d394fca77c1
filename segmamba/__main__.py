"""Allow ``python -m segmamba <subcommand>``."""

from segmamba.cli import main

raise SystemExit(main())
