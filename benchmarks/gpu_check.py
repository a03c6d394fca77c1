"""One-table check of the CUDA paths (run by gpu_check.sh; not a test): scan backends against the reference,
the scan at SegMamba's stage-1 length, a SegMamba training step and Table 5 at 128^3.

Sections (every subprocess bounded by --section-timeout seconds and by what is left of --budget; a part that
fails, times out or no longer fits prints its reason and the check goes on):

1. ``scan vs reference``: every CUDA scan backend (``mamba_ssm``, "not installed" without it; ``triton``;
   ``torch``) against the sequential reference at L = --check-length, in float32 (output, last state and every
   gradient) and with float16 inputs under autocast (output and gradients): the largest error relative to the
   largest reference value.
2. ``scan L=...``: forward + backward time and peak memory beyond the inputs at L = --scan-length (262,144),
   D = 96, N = 16, batch 1, per backend in a fresh process (``benchmarks/scan.py``), and triton against torch.
3. ``training step``: SegMamba (published size) at --size^3, batch 2, AMP float16 with a gradient scaler and
   SGD: seconds per step (median of 2 after a warm-up step), peak allocated and reserved memory, scan backend.
4. ``Table 5``: ``segmamba efficiency --size S --repeats 1`` for UX-Net, SwinUNETR, M6 (explicit attention, as
   in the paper) and SegMamba: TM, IM (allocated / reserved), IT and the scan backend, with the paper's
   targets for SegMamba without mamba-ssm (TM <= 17,976 MB, IT >= 1.51 cases/s).

``--device cpu`` with small sizes runs the same code on a CPU (a dry run of everything but CUDA specifics); the
Triton backend then runs under its interpreter when TRITON_INTERPRET=1 is set (gpu_check.sh --cpu-dry-run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scan as scan_bench  # noqa: E402 - benchmarks/scan.py, next to this file

MB = 2**20
PAPER_SEGMAMBA_TM_MB = 17976
PAPER_SEGMAMBA_IT = 1.51
ROWS: list[tuple[str, str, str, str]] = []
DEADLINE = [float("inf")]


def time_left(args) -> float:
    """Seconds a subprocess may take now: --section-timeout, capped by what is left of --budget."""
    return min(args.section_timeout, DEADLINE[0] - time.perf_counter())


def row(section: str, item: str, backend: str, result: str) -> None:
    """Add one line of the final table (also echoed at once, so a stuck section shows where it got)."""
    ROWS.append((section, item, backend, result))
    print(f"  [{section}] {item} | {backend} | {result}", file=sys.stderr, flush=True)


def run_in_subprocess(function, args: tuple, timeout: float):
    """``scan_bench.run_in_subprocess``, or ("skipped", ...) when the time budget is spent."""
    if timeout < 5:
        return "skipped", "the time budget is spent"
    return scan_bench.run_in_subprocess(function, args, timeout)


# ------------------------------------------------------------------------------------ 1. scan vs reference


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |actual - expected| / max |expected|."""
    scale = expected.double().abs().max().item() or 1.0
    return (actual.double() - expected.double()).abs().max().item() / scale


def backend_errors(backend: str, device: str, length: int, half: bool) -> dict:
    """Largest relative errors of ``backend`` against the reference: output, last state, worst gradient."""
    from segmamba.ops import scan_backend_label, selective_scan_ref, selective_scan_with_backend

    inputs = scan_bench.make_inputs(2, 16, 16, length, seed=3, device=device)
    names = list(inputs)
    if half:  # as in the model under autocast: u, delta, B, C, z in float16; A, D, delta_bias float32
        keep = ("A", "D", "delta_bias")
        low = {k: v if k in keep else v.detach().half().requires_grad_() for k, v in inputs.items()}
        upcast = {k: v.detach().float().requires_grad_() for k, v in low.items()}
        with torch.autocast(torch.device(device).type, dtype=torch.float16, enabled=device.startswith("cuda")):
            out = selective_scan_with_backend(backend, **low, delta_softplus=True)
        expected = selective_scan_ref(**upcast, delta_softplus=True)
        seed = torch.randn(out.shape, generator=torch.Generator().manual_seed(4)).to(device)
        got = torch.autograd.grad(out, [low[k] for k in names], seed.half())
        want = torch.autograd.grad(expected, [upcast[k] for k in names], seed.half().float())
        return {
            "output": relative_error(out, expected),
            "state": None,
            "ran": scan_backend_label(),
            "grad": max(relative_error(g, w) for g, w in zip(got, want, strict=True)),
            "dtype": str(out.dtype),
        }
    out, state = selective_scan_with_backend(backend, **inputs, delta_softplus=True, return_last_state=True)
    expected, expected_state = selective_scan_ref(**inputs, delta_softplus=True, return_last_state=True)
    seed = torch.randn(out.shape, generator=torch.Generator().manual_seed(4)).to(device)
    got = torch.autograd.grad(out, list(inputs.values()), seed)
    want = torch.autograd.grad(expected, list(inputs.values()), seed)
    return {"output": relative_error(out, expected), "state": relative_error(state, expected_state),
            "grad": max(relative_error(g, w) for g, w in zip(got, want, strict=True)), "dtype": str(out.dtype),
            "ran": scan_backend_label()}  # fmt: skip


def check_backends(args) -> None:
    from segmamba.ops.dispatch import cuda_selective_scan_fn

    section = f"scan vs reference L={args.check_length}"
    for backend in args.backends:
        if backend == "mamba_ssm" and cuda_selective_scan_fn() is None:
            row(section, "float32 / float16 autocast", backend, "not installed")
            continue
        for half in (False, True):
            item = "float16 inputs, autocast" if half else "float32"
            kind, value = run_in_subprocess(backend_errors, (backend, args.device, args.check_length, half),
                                            time_left(args))  # fmt: skip
            if kind != "ok":
                row(section, item, backend, f"{kind}: {value.strip().splitlines()[-1]}")
                continue
            state = f"  state {value['state']:.1e}" if value["state"] is not None else ""
            tolerance = 2e-3 if half else 1e-4
            verdict = "ok" if max(value["output"], value["grad"]) <= tolerance else f"ABOVE {tolerance:g}"
            row(
                section,
                item,
                value["ran"] or backend,
                f"out {value['output']:.1e}{state}  grads {value['grad']:.1e}  ({value['dtype']}) {verdict}",
            )


# ------------------------------------------------------------------------------------ 2. scan at stage-1 length


def check_scan_length(args) -> None:
    section = f"scan fwd+bwd L={args.scan_length:,}"
    options = argparse.Namespace(batch=1, dim=96, state=16, device=args.device, memory_length=args.scan_length,
                                 memory_backends=args.backends, ref_memory_length=0, threads=None,
                                 timeout=max(time_left(args), 5))  # fmt: skip
    results = {}
    for result in scan_bench.memory_rows(options):
        backend = result["backend"]
        if result["status"] != "ok":
            message = f": {result['message'].strip().splitlines()[-1]}" if result.get("message") else ""
            row(section, "time / peak memory", backend, (result["status"] + message)[:160])
            continue
        results[backend] = result
        total = result["forward_s"] + result["backward_s"]
        row(section, "time / peak memory beyond inputs", result["ran"],
            f"fwd {result['forward_s']:.3f} s  bwd {result['backward_s']:.3f} s  total {total:.3f} s  "
            f"peak {result['peak_mb']:,.0f} MB")  # fmt: skip
    if "triton" in results and "torch" in results:
        speed = sum(results["torch"][k] for k in ("forward_s", "backward_s")) / sum(
            results["triton"][k] for k in ("forward_s", "backward_s")
        )
        memory = results["torch"]["peak_mb"] / max(results["triton"]["peak_mb"], 1e-9)
        goal = "goal >= 10x met" if speed >= 10 else "goal >= 10x NOT met"
        row(section, "triton vs torch", "triton", f"{speed:.1f}x faster ({goal}), {memory:.1f}x less memory")


# ------------------------------------------------------------------------------------ 3. training step


def training_step(device: str, size: int, overrides: dict) -> dict:
    """Seconds per AMP training step of SegMamba at size^3, batch 2 (median of 2 after one warm-up step)."""
    from segmamba.efficiency.measure import TrainingStep
    from segmamba.models import build_model
    from segmamba.ops import scan_backend_label

    cuda = device.startswith("cuda")
    model = build_model("segmamba", 4, 4, patch_size=(size,) * 3, **overrides).to(device)
    step = TrainingStep(model, 4, 4, size, device, amp=cuda)
    times = []
    for index in range(3):
        if index == 1 and cuda:
            torch.cuda.reset_peak_memory_stats()
        scan_bench.synchronize(device)
        start = time.perf_counter()
        loss = step()
        scan_bench.synchronize(device)
        times.append(time.perf_counter() - start)
    return {
        "step_s": statistics.median(times[1:]),
        "first_step_s": times[0],
        "allocated_mb": torch.cuda.max_memory_allocated() / MB if cuda else None,
        "reserved_mb": torch.cuda.max_memory_reserved() / MB if cuda else None,
        "ran": scan_backend_label(),
        "loss": float(loss),
    }


def check_training_step(args) -> None:
    section = f"training step {args.size}^3 b2 AMP"
    kind, value = run_in_subprocess(training_step, (args.device, args.size, args.overrides.get("segmamba", {})),
                                    time_left(args))  # fmt: skip
    if kind != "ok":
        row(section, "SegMamba", "", f"{kind}: {value.strip().splitlines()[-1]}")
        return
    memory = (f"  peak {value['allocated_mb']:,.0f} MB allocated / {value['reserved_mb']:,.0f} MB reserved"
              if value["allocated_mb"] is not None else "")  # fmt: skip
    row(
        section,
        "SegMamba",
        value["ran"] or "none",
        f"{value['step_s']:.3f} s/step (first step {value['first_step_s']:.1f} s){memory}  loss {value['loss']:.3f}",
    )


# ------------------------------------------------------------------------------------ 4. Table 5


def check_table5(args) -> None:
    section = f"Table 5 @ {args.size}^3"
    with tempfile.TemporaryDirectory() as scratch:
        for model in args.models:
            overrides = dict(args.overrides.get(model, {}))
            if model == "segmamba_m6":
                overrides["attention_kernel"] = "math"  # the explicit attention the paper measured
            out = Path(scratch) / f"{model}.json"
            command = [sys.executable, "-m", "segmamba", "efficiency", "--model", model, "--size", str(args.size),
                       "--out", str(out), "--repeats", "1", "--device", args.device,
                       "--model-overrides", json.dumps(overrides)]  # fmt: skip
            start, timeout = time.perf_counter(), time_left(args)
            if timeout < 5:
                row(section, model, "", "skipped: the time budget is spent")
                continue
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                row(section, model, "", f"timeout after {timeout:.0f} s")
                continue
            if done.returncode != 0:
                row(section, model, "", f"error: {(done.stderr or done.stdout).strip().splitlines()[-1][:160]}")
                continue
            record = json.loads(out.read_text())
            row(
                section,
                model,
                record["scan_backend"] or "none (no scan)",
                table5_result(record) + f"  [{time.perf_counter() - start:.0f} s]",
            )


def table5_result(record: dict) -> str:
    """TM, IM (allocated / reserved), IT of one efficiency record, with the paper's targets for SegMamba."""

    def number(entry, decimals=0):
        if entry is None:
            return "-"
        median = entry["median"]
        return median if median == "OOM" else f"{median:,.{decimals}f}"

    text = (f"TM {number(record['training_memory'])} / {number(record['training_memory_reserved'])} MB  "
            f"IM {number(record['inference_memory'])} / {number(record['inference_memory_reserved'])} MB  "
            f"IT {number(record['inference_throughput'], 2)} cases/s  L {record['sequence_length']:,}")  # fmt: skip
    if record["model"] == "segmamba" and record["size"] == 128 and record["scan_backend"] != "mamba_ssm":
        tm, it = record["training_memory"]["median"], record["inference_throughput"]["median"]
        tm_ok = tm != "OOM" and tm <= PAPER_SEGMAMBA_TM_MB
        it_ok = it != "OOM" and it >= PAPER_SEGMAMBA_IT
        text += (f"  goals: TM <= {PAPER_SEGMAMBA_TM_MB:,} {'met' if tm_ok else 'NOT met'}, "
                 f"IT >= {PAPER_SEGMAMBA_IT} {'met' if it_ok else 'NOT met'}")  # fmt: skip
    return text


# ------------------------------------------------------------------------------------ main


def header(args) -> str:
    from segmamba.ops.dispatch import cuda_selective_scan_fn, triton_problem

    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = "not installed"
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU (dry run)"
    mamba = "installed" if cuda_selective_scan_fn() is not None else "not installed"
    problem = triton_problem(torch.device(args.device).type)
    return (f"GPU check on {name}: torch {torch.__version__} (CUDA {torch.version.cuda}), triton {triton_version}"
            f"{'' if problem is None else ' (' + problem + ')'}, mamba-ssm {mamba}")  # fmt: skip


def print_table(title: str, elapsed: float) -> None:
    widths = [max(len(r[i]) for r in [("section", "item", "backend", "result"), *ROWS]) for i in range(3)]
    print(title)
    head = f"{'section':<{widths[0]}}  {'item':<{widths[1]}}  {'backend':<{widths[2]}}  result"
    print(head)
    print("-" * max(len(head), 100))
    for section, item, backend, result in ROWS:
        print(f"{section:<{widths[0]}}  {item:<{widths[1]}}  {backend:<{widths[2]}}  {result}")
    print(f"total {elapsed:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (dry run with small sizes)")
    parser.add_argument("--size", type=int, default=128, help="patch edge of the training step and Table 5 (128)")
    parser.add_argument("--check-length", type=int, default=2048, help="L of the comparison with the reference")
    parser.add_argument("--scan-length", type=int, default=262144, help="L of the scan time/memory section")
    parser.add_argument("--backends", default=None, help="scan backends (default: mamba_ssm,triton,torch)")
    parser.add_argument("--models", default="uxnet,swinunetr,segmamba_m6,segmamba", help="Table 5 models")
    parser.add_argument("--overrides", default="{}", help="JSON {model: constructor keywords} (dry runs)")
    parser.add_argument("--sections", default="backends,scan,training,table5", help="sections to run")
    parser.add_argument("--section-timeout", type=float, default=150, help="seconds per subprocess (150)")
    parser.add_argument("--budget", type=float, default=450, help="seconds for the whole check (450)")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA device (use --device cpu for a dry run)", file=sys.stderr)
        return 2
    args.backends = (args.backends or "mamba_ssm,triton,torch").split(",")
    args.models = args.models.split(",")
    args.overrides = json.loads(args.overrides)
    start = time.perf_counter()
    DEADLINE[0] = start + args.budget
    title = header(args)
    print(title, file=sys.stderr, flush=True)
    sections = {"backends": check_backends, "scan": check_scan_length, "training": check_training_step,
                "table5": check_table5}  # fmt: skip
    for name in args.sections.split(","):
        try:
            sections[name](args)
        except Exception as error:  # noqa: BLE001 - one broken section must not hide the others
            row(name, "section failed", "", f"{type(error).__name__}: {error}"[:200])
    print_table(title, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
