"""What the models' configuration check adds to ``snakemake -n`` (not a test).

Copies the workflow twice into a temporary folder: as it is, and with the ``check_models()`` call of
``workflow/rules/common.smk`` removed. Then times ``snakemake -n --quiet`` alternately: without the check, with
the check and an empty constructor cache (the first dry run after a config or code change), and with the
check and a filled cache (every later one). Prints the median and min wall time of each and the difference.

    python benchmarks/dry_run.py [--repeats 3] [--scale demo|paper]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "config.yaml", "workflow", "envs")
CACHE = Path(".snakemake/segmamba/model-checks.json")


def copy_workflow(destination: Path, with_check: bool) -> Path:
    """A copy of the workflow definition, optionally without the model check."""
    destination.mkdir(parents=True)
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination / name)
    if not with_check:
        common = destination / "workflow/rules/common.smk"
        text = common.read_text()
        assert "\ncheck_models()\n" in text, "common.smk has no check_models() call"
        common.write_text(text.replace("\ncheck_models()\n", "\n"))
    return destination


def dry_run_seconds(workdir: Path, scale: str) -> float:
    """Wall time of one ``snakemake -n --quiet`` in ``workdir``."""
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--quiet", "--config", f"scale={scale}"],
        cwd=workdir,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="dry runs per variant (default: 3)")
    parser.add_argument("--scale", choices=("demo", "paper"), default="demo")
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {"without the check": [], "check, empty cache": [], "check, filled cache": []}
    with tempfile.TemporaryDirectory() as scratch:
        plain = copy_workflow(Path(scratch) / "plain", with_check=False)
        checked = copy_workflow(Path(scratch) / "checked", with_check=True)
        dry_run_seconds(plain, args.scale)  # warm the file cache
        for _ in range(args.repeats):
            times["without the check"].append(dry_run_seconds(plain, args.scale))
            (checked / CACHE).unlink(missing_ok=True)
            times["check, empty cache"].append(dry_run_seconds(checked, args.scale))
            times["check, filled cache"].append(dry_run_seconds(checked, args.scale))
    base = statistics.median(times["without the check"])
    print(f"snakemake -n --quiet, scale {args.scale}, {args.repeats} runs each (alternating), load {os.getloadavg()}")
    print("| variant | median s | min s | added (median) s |")
    print("|---|---:|---:|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {min(values):.2f} | {median - base:+.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
