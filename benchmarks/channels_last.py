"""CPU time of one training step per model, contiguous vs ``channels_last_3d`` (what ``segmamba train`` uses on CPU).

    python benchmarks/channels_last.py [--steps 8] [--threads 1] [--models segresnet uxnet ...]

Every model of ``config.yaml`` with the demo scale's constructor overrides, on a random batch of two 32³ patches
(4 channels, 4 classes), SGD with momentum: a forward pass, the cross-entropy loss, the backward pass and the
optimiser step. The time is the process CPU time (``time.process_time``), so a loaded machine changes it less than
wall time; the median over ``--steps`` steps after two warm-up steps, each format in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

STEP_CODE = """
import json, sys, time, torch
torch.set_num_threads({threads})
from segmamba.models.registry import build_model
torch.manual_seed(0)
model = build_model({name!r}, 4, 4, (32, 32, 32), **{overrides!r})
image, label = torch.randn(2, 4, 32, 32, 32), torch.randint(0, 4, (2, 32, 32, 32))
if {channels_last}:
    model, image = model.to(memory_format=torch.channels_last_3d), image.to(memory_format=torch.channels_last_3d)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
times = []
for _ in range({steps} + 2):
    start = time.process_time()
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(model(image), label).backward()
    optimizer.step()
    times.append(time.process_time() - start)
print(json.dumps(times[2:]))
"""


def step_seconds(name: str, overrides: dict, channels_last: bool, steps: int, threads: int) -> float:
    """Median CPU seconds of a training step of ``name`` in a fresh interpreter."""
    code = STEP_CODE.format(name=name, overrides=overrides, channels_last=channels_last, steps=steps, threads=threads)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return statistics.median(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per model and format (default 8)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as a 1-thread job)")
    parser.add_argument("--models", nargs="+", help="registry names (default: config.yaml's models)")
    args = parser.parse_args(argv)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    overrides = config["scales"]["demo"]["model_overrides"]
    models = args.models or config["models"]
    print("| model | contiguous s/step | channels_last_3d s/step | change |")
    print("| --- | ---: | ---: | ---: |")
    for name in models:
        before = step_seconds(name, overrides.get(name, {}), False, args.steps, args.threads)
        after = step_seconds(name, overrides.get(name, {}), True, args.steps, args.threads)
        print(f"| {name} | {before:.3f} | {after:.3f} | {100 * (after / before - 1):+.0f} % |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
