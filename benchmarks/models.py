"""Forward + backward time and peak memory of every registered model at one patch size (not a test).

Each model runs in its own subprocess (clean peak-memory accounting), in train mode on one random batch
with a cross-entropy loss: one warm-up step, then ``--repeats`` timed steps (median and min reported).
Memory: on CUDA the peak of ``torch.cuda.max_memory_allocated`` (absolute, and above the memory held before
the timed steps); on CPU the process peak RSS (VmHWM, reset via /proc/self/clear_refs after warm-up) and its
rise above the RSS before the timed steps.

Examples::

    python benchmarks/models.py                     # every model, 32^3, CPU
    python benchmarks/models.py --size 128 --device cuda --models segmamba,segmamba_m6
    python benchmarks/models.py --overrides '{"swinunetr": {"norm_name": ["group", {"num_groups": 1}]}}'
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def _read_status_kib(field: str) -> int:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM) in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> bool:
    """Reset the process peak RSS (VmHWM); False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def measure(name: str, args: argparse.Namespace, overrides: dict) -> dict:
    """Build ``name`` and time ``args.repeats`` training steps; returns a result row."""
    import gc

    import torch
    import torch.nn.functional as F

    from segmamba.models import build_model, count_parameters
    from segmamba.runtime import select_device

    device = select_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    size = (args.size,) * 3
    model = build_model(name, args.in_channels, args.out_channels, patch_size=size, **overrides).to(device).train()
    image = torch.randn(args.batch_size, args.in_channels, *size, device=device)
    target = torch.randint(0, args.out_channels, (args.batch_size, *size), device=device)
    use_amp = device.type == "cuda" if args.amp == "auto" else args.amp == "on"

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def step() -> tuple[float, float]:
        start = time.perf_counter()
        with torch.autocast(device.type, enabled=use_amp):
            loss = F.cross_entropy(model(image), target)
        sync()
        middle = time.perf_counter()
        loss.backward()
        sync()
        model.zero_grad(set_to_none=True)
        return middle - start, time.perf_counter() - middle

    row = {"model": name, "params": count_parameters(model), "size": args.size, "device": str(device), "amp": use_amp}
    step()  # warm-up (kernel selection, JIT compilation, allocator growth)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        row["peak_reset"] = _reset_peak_rss()
        base = _read_status_kib("VmRSS") * 1024
    times = [step() for _ in range(args.repeats)]
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
    else:
        peak = _read_status_kib("VmHWM") * 1024
    totals = [f + b for f, b in times]
    row.update(
        forward_s=statistics.median(f for f, _ in times),
        backward_s=statistics.median(b for _, b in times),
        step_s=statistics.median(totals),
        step_min_s=min(totals),
        peak_mib=peak / 2**20,
        peak_rise_mib=(peak - base) / 2**20,
    )
    return row


def run_worker(name: str, args: argparse.Namespace, overrides: dict) -> dict:
    """Measure one model in a fresh interpreter; OOM and configuration errors become a status string."""
    command = [
        sys.executable,
        __file__,
        "--worker",
        name,
        "--size",
        str(args.size),
        "--in-channels",
        str(args.in_channels),
        "--out-channels",
        str(args.out_channels),
        "--device",
        args.device,
        "--repeats",
        str(args.repeats),
        "--batch-size",
        str(args.batch_size),
        "--amp",
        args.amp,
        "--threads",
        str(args.threads),
        "--overrides",
        json.dumps({name: overrides}),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode == 0:
        return json.loads(result.stdout.strip().splitlines()[-1])
    last = (result.stderr.strip().splitlines() or ["failed"])[-1]
    status = "OOM" if "out of memory" in result.stderr.lower() else last[:100]
    return {"model": name, "status": status}


def format_table(rows: list[dict]) -> str:
    """Markdown table of the result rows."""
    lines = [
        "| model | params | fwd s | bwd s | fwd+bwd s (median / min) | peak MiB | +MiB during steps |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if "status" in row:
            lines.append(f"| {row['model']} | | | | {row['status']} | | |")
            continue
        lines.append(
            f"| {row['model']} | {row['params']:,} | {row['forward_s']:.3f} | {row['backward_s']:.3f} | "
            f"{row['step_s']:.3f} / {row['step_min_s']:.3f} | {row['peak_mib']:.0f} | {row['peak_rise_mib']:.0f} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=32, help="cubic patch size (default: 32)")
    parser.add_argument("--in-channels", type=int, default=4)
    parser.add_argument("--out-channels", type=int, default=4)
    parser.add_argument("--models", default="", help="comma-separated names (default: every registered model)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default: auto)")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per model (default: 3)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--amp", choices=("auto", "on", "off"), default="auto", help="autocast (auto: on CUDA only)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    parser.add_argument("--overrides", default="{}", help='JSON {"model": {constructor overrides}}')
    parser.add_argument("--json", dest="json_out", default="", help="also write the rows to this JSON file")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table."""
    args = parse_args(argv)
    overrides = json.loads(args.overrides)
    if args.worker:
        print(json.dumps(measure(args.worker, args, overrides.get(args.worker, {}))))
        return 0
    from segmamba.models import list_models

    names = [n for n in args.models.split(",") if n] or list_models()
    rows = []
    for name in names:
        rows.append(run_worker(name, args, overrides.get(name, {})))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(
        f"patch {args.size}^3, batch {args.batch_size}, in {args.in_channels}, out {args.out_channels}, "
        f"device {args.device}, amp {args.amp}, {args.repeats} timed steps"
    )
    print(format_table(rows))
    if args.json_out:
        with open(args.json_out, "w") as handle:
            json.dump(rows, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
