"""Start-up import time of every ``segmamba`` subcommand: ``python -X importtime`` of what its handler imports.

    python benchmarks/import_times.py [--repeats 3] [--root REPO] [--json OUT]

For each subcommand, a fresh interpreter imports the command line (``segmamba.cli``) and the modules the
subcommand's handler imports (``HANDLER_MODULES``; the training, prediction and efficiency steps also import
the SegMamba network, as building a model does). The time is the sum of the cumulative ``-X importtime`` of
those top-level imports (microseconds in the raw output, seconds here), the median over ``--repeats`` runs.
``--root`` picks the checkout to measure (default: this one), so two checkouts can be compared on the same
machine one after the other. The last column lists the heavy libraries the subcommand loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

#: subcommand -> modules its handler imports (segmamba/<stage>/cli.py).
HANDLER_MODULES = {
    "models": ["segmamba.models.registry"],
    "synth": ["segmamba.data.synth", "segmamba.io_utils"],
    "check": ["segmamba.data.check", "segmamba.data.datasets"],
    "split": ["segmamba.data.datasets", "segmamba.data.split"],
    "preprocess": ["segmamba.data.dataset_config", "segmamba.data.preprocess"],
    "train": ["segmamba.train.settings", "segmamba.train.trainer", "segmamba.models.nets.segmamba"],
    "predict": ["segmamba.predict.settings", "segmamba.predict.predictor", "segmamba.models.nets.segmamba"],
    "ground-truth": ["segmamba.evaluate.ground_truth"],
    "evaluate": ["segmamba.data.dataset_config", "segmamba.evaluate.evaluate"],
    "efficiency": ["segmamba.efficiency.runner", "segmamba.runtime", "segmamba.models.nets.segmamba"],
    "report": ["segmamba.report.build"],
    "status": ["segmamba.status.report"],
    "export": ["segmamba.bundle.export"],
}

HEAVY = ("torch", "monai", "monai.networks.nets", "numba", "pandas", "matplotlib", "scipy", "mlflow")


def measure(root: Path, modules: list[str]) -> tuple[float, list[str]]:
    """Seconds of the top-level imports of ``segmamba.cli`` and ``modules``, and the heavy libraries loaded."""
    code = "import sys\n" + "".join(f"import {m}\n" for m in ["segmamba.cli", *modules])
    code += f"print([m for m in {HEAVY!r} if m in sys.modules])"
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=env, check=True
    )
    microseconds = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        if name.startswith(" segmamba"):  # a top-level import of the code above (nested ones are indented)
            microseconds += int(cumulative)
    return microseconds / 1e6, json.loads(done.stdout.strip().replace("'", '"'))


def main(argv: list[str]) -> int:
    """Print (and optionally write as JSON) the median import time per subcommand."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--json", type=Path, help="also write {subcommand: {seconds, runs, heavy}} here")
    args = parser.parse_args(argv)
    results = {}
    print(f"{'subcommand':<13} {'median s':>8}  runs s  heavy libraries loaded")
    for command, modules in HANDLER_MODULES.items():
        runs = [measure(args.root, modules) for _ in range(args.repeats)]
        seconds = [run[0] for run in runs]
        results[command] = {"seconds": statistics.median(seconds), "runs": seconds, "heavy": runs[-1][1]}
        row = results[command]
        print(
            f"{command:<13} {row['seconds']:>8.2f}  {' '.join(f'{s:.2f}' for s in seconds)}  "
            f"{', '.join(row['heavy']) or '-'}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
