"""Benchmark the selective scan: speed of a fast backend against the sequential reference, and the time and peak
memory of every backend at SegMamba's stage-1 length (not a test).

Inputs are Mamba-like: random u, delta, B, C, z, D, delta_bias, A = -(1..N), softplus on, all requiring grad.

1. Speed (``--length``, default 32,768): milliseconds per call (median of --repeats) of the reference and the
   fast ``--backend``, forward and backward. The reference backward (torch autograd through the sequential
   loop) is very slow at long lengths, so it is measured at --ref-backward-length and extrapolated (marked *).
2. Memory (``--memory-length``, default 262,144 = 64^3, the longest sequence of SegMamba at 128^3): one
   forward + backward per backend, each in a fresh process, with its wall time and its peak memory beyond the
   inputs (outputs and gradients included): on CPU the peak RSS (VmHWM, reset after the inputs are made) above
   the RSS then, on CUDA torch.cuda.max_memory_allocated above the allocated memory after the inputs. The reference is
   measured at --ref-memory-length and extrapolated linearly (marked *): its autograd graph grows with L.

Backends of the memory table: on CPU ``torch`` (the memory-lean chunked scan) and ``numba``; on CUDA
``mamba_ssm`` ("not installed" without it), ``triton`` and ``torch``. Triton's CPU interpreter is far too
slow for these lengths and is not run.

Usage: python benchmarks/scan.py [--device cpu|cuda] [--tables speed,memory] [--length 32768] [--dim 96]
       [--state 16] [--batch 1] [--repeats 5] [--backend numba] [--ref-backward-length 2048]
       [--memory-length 262144] [--ref-memory-length 4096] [--memory-backends torch,numba] [--threads N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import time
import traceback

import torch

from segmamba.ops import scan_backend_label, selective_scan_ref, selective_scan_with_backend

MB = 2**20


def make_inputs(batch: int, dim: int, state: int, length: int, seed: int = 0, device: str = "cpu") -> dict:
    """Random scan inputs in the ranges a Mamba layer produces, all requiring grad."""
    gen = torch.Generator().manual_seed(seed)
    inputs = {
        "u": torch.randn(batch, dim, length, generator=gen),
        "delta": torch.randn(batch, dim, length, generator=gen) * 0.5 - 4.0,
        "A": -torch.arange(1, state + 1, dtype=torch.float32).repeat(dim, 1),
        "B": torch.randn(batch, state, length, generator=gen),
        "C": torch.randn(batch, state, length, generator=gen),
        "D": torch.ones(dim),
        "z": torch.randn(batch, dim, length, generator=gen),
        "delta_bias": torch.rand(dim, generator=gen) * 2.0 - 1.0,
    }
    return {name: t.to(device).requires_grad_() for name, t in inputs.items()}


def synchronize(device: str) -> None:
    """Wait for queued CUDA work (no-op on CPU)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_call(fn, repeats: int, warmup: bool = True, device: str = "cpu") -> tuple[float, float]:
    """Median (wall ms, process CPU ms) of fn() over ``repeats`` calls, after one warm-up call if asked.

    CPU time sums all threads of this process; it is less affected by other processes sharing the cores.
    """
    if warmup:
        fn()
    walls, cpus = [], []
    for _ in range(repeats):
        synchronize(device)
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        synchronize(device)
        walls.append((time.perf_counter() - wall) * 1e3)
        cpus.append((time.process_time() - cpu) * 1e3)
    return statistics.median(walls), statistics.median(cpus)


def measure(scan, inputs: dict, repeats: int, warmup: bool = True, device: str = "cpu") -> tuple[tuple, tuple]:
    """((wall, cpu) forward ms, (wall, cpu) backward ms) of ``scan`` on ``inputs``.

    Backward is one ``out.backward(g)`` after an untimed forward. The warm-up call (JIT compilation or
    cache load) is skipped for the reference, which has none.
    """
    grad = torch.randn(inputs["u"].shape, generator=torch.Generator().manual_seed(1)).to(device)

    def forward():
        with torch.no_grad():
            return scan(**inputs, delta_softplus=True)

    outputs = []

    def backward():
        outputs.pop().backward(grad)

    forward_ms = time_call(forward, repeats, warmup, device)
    walls, cpus = [], []
    for _ in range(repeats + int(warmup)):
        outputs.append(scan(**inputs, delta_softplus=True))
        wall, cpu = time_call(backward, 1, warmup=False, device=device)
        walls.append(wall)
        cpus.append(cpu)
    backward_ms = statistics.median(walls[int(warmup) :]), statistics.median(cpus[int(warmup) :])
    return forward_ms, backward_ms


def speed_table(args) -> None:
    """Print the speed table: reference against ``args.backend``."""

    def fast(**kw):
        return selective_scan_with_backend(args.backend, **kw)

    shape = (args.batch, args.dim, args.state)
    full = make_inputs(*shape, args.length, device=args.device)
    short = make_inputs(*shape, min(args.length, args.ref_backward_length), device=args.device)
    ref_repeats = max(1, min(args.repeats, 3))

    fast_fwd, fast_bwd = measure(fast, full, args.repeats, device=args.device)
    ref_fwd = time_call(lambda: _no_grad(selective_scan_ref, full), ref_repeats, False, args.device)
    fast_fwd_short, fast_bwd_short = measure(fast, short, args.repeats, device=args.device)
    ref_fwd_short, ref_bwd_short = measure(selective_scan_ref, short, ref_repeats, False, args.device)

    long_l, short_l = args.length, short["u"].shape[-1]
    scale = long_l / short_l
    rows = [
        ("forward", long_l, ref_fwd, fast_fwd, ""),
        ("forward", short_l, ref_fwd_short, fast_fwd_short, ""),
        ("backward", short_l, ref_bwd_short, fast_bwd_short, ""),
        ("backward", long_l, (ref_bwd_short[0] * scale, ref_bwd_short[1] * scale), fast_bwd, "*"),
    ]
    print(f"selective scan speed on {args.device}, batch {args.batch}, D={args.dim}, N={args.state}, "
          f"fast backend '{args.backend}', threads: torch {torch.get_num_threads()}")  # fmt: skip
    header = (
        f"{'pass':<9}{'L':>7}{'ref ms':>11}{'fast ms':>10}{'fast steps/s':>13}{'ratio':>8}"
        f"{'ref CPU ms':>12}{'fast CPU ms':>12}{'CPU ratio':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, length, (ref_wall, ref_cpu), (fast_wall, fast_cpu), mark in rows:
        print(
            f"{name:<9}{length:>7}{ref_wall:>10.1f}{mark or ' '}{fast_wall:>10.2f}{length / fast_wall * 1e3:>13.0f}"
            f"{ref_wall / fast_wall:>7.1f}x{ref_cpu:>11.1f}{mark or ' '}{fast_cpu:>12.2f}{ref_cpu / fast_cpu:>9.1f}x"
        )
    print(f"* reference backward at L={long_l} extrapolated linearly from L={short_l} (too slow to run)")
    print("ratio: wall-clock speed-up; CPU ratio: speed-up in process CPU time (all threads), which depends")
    print("less on other processes sharing the cores. Median of --repeats calls (reference: at most 3).")


def _no_grad(fn, inputs: dict):
    with torch.no_grad():
        return fn(**inputs, delta_softplus=True)


# ------------------------------------------------------------------------------------------------- memory


def _status_mb(field: str) -> float:
    """A kB field of /proc/self/status (VmRSS, VmHWM) in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> bool:
    """Reset the peak RSS of this process (VmHWM) to its current RSS; False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def footprint(backend: str, device: str, shape: tuple[int, int, int], length: int, threads: int | None) -> dict:
    """One forward + backward of ``backend`` at ``length`` in this (fresh) process.

    Returns ``{"forward_s", "backward_s", "peak_mb"}`` (peak memory beyond the inputs, see the module docstring)
    and ``"ran"`` (the backend that ran). A warm-up call at a short length (compilation) precedes it.
    """
    if threads:
        torch.set_num_threads(threads)
    cuda = device.startswith("cuda")

    def scan(**kw):
        return selective_scan_with_backend(backend, **kw)

    warm = make_inputs(*shape, min(length, 4096), seed=1, device=device)
    scan(**warm, delta_softplus=True).sum().backward()
    del warm
    inputs = make_inputs(*shape, length, device=device)
    grad = torch.randn(inputs["u"].shape, generator=torch.Generator().manual_seed(2)).to(device)
    if cuda:
        torch.cuda.empty_cache()
        synchronize(device)
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / MB
    else:
        base = _status_mb("VmRSS")
        reset = _reset_peak_rss()  # else the warm-up's peak could count
    start = time.perf_counter()
    out = scan(**inputs, delta_softplus=True)
    synchronize(device)
    forward_s = time.perf_counter() - start
    start = time.perf_counter()
    out.backward(grad)
    synchronize(device)
    backward_s = time.perf_counter() - start
    if cuda:
        peak = torch.cuda.max_memory_allocated() / MB
    else:
        peak = _status_mb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"forward_s": forward_s, "backward_s": backward_s, "peak_mb": peak - base, "ran": scan_backend_label()}


def _child(connection, function, args) -> None:
    try:
        connection.send(("ok", function(*args)))
    except BaseException as error:  # noqa: BLE001 - reported to the parent
        oom = isinstance(error, torch.OutOfMemoryError | MemoryError) or "out of memory" in str(error).lower()
        message = str(error).splitlines()[0][:200] if oom else traceback.format_exc()[-1500:]
        connection.send(("OOM" if oom else "error", message))
    finally:
        connection.close()


def run_in_subprocess(function, args: tuple, timeout: float | None = None):
    """``function(*args)`` in a fresh spawned process: ``("ok", value)``, ``("OOM", message)``, ``("error",
    traceback)`` or, after ``timeout`` seconds, ``("timeout", message)``."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, function, args), daemon=True)
    process.start()
    sender.close()
    if not receiver.poll(timeout):
        process.kill()
        process.join()
        return "timeout", f"no result within {timeout:.0f} s"
    try:
        outcome = receiver.recv()
    except EOFError:
        outcome = ("OOM" if process.exitcode == -9 else "error", f"process died (exit {process.exitcode})")
    process.join()
    return outcome


def backend_skip_reason(backend: str, device: str) -> str | None:
    """Why ``backend`` is not measured on ``device`` ("not installed" for a missing mamba-ssm), or None."""
    from segmamba.ops.dispatch import choose_scan_backend, cuda_selective_scan_fn

    if backend == "mamba_ssm" and cuda_selective_scan_fn() is None:
        return "not installed"
    if backend == "triton" and not device.startswith("cuda"):
        return "CPU interpreter only: too slow at this length"
    try:
        choose_scan_backend(torch.device(device).type, backend)
    except RuntimeError as error:
        return str(error)
    return None


def memory_rows(args) -> list[dict]:
    """One row per backend (and the extrapolated reference): backend, L, times, peak, status."""
    shape = (args.batch, args.dim, args.state)
    rows = []
    for backend in args.memory_backends:
        reason = backend_skip_reason(backend, args.device)
        if reason:
            rows.append({"backend": backend, "length": args.memory_length, "status": reason})
            continue
        job = (backend, args.device, shape, args.memory_length, args.threads)
        kind, result = run_in_subprocess(footprint, job, getattr(args, "timeout", None))
        rows.append({"backend": backend, "length": args.memory_length, "status": kind,
                     **(result if kind == "ok" else {"message": result})})  # fmt: skip
    if args.ref_memory_length:
        job = ("reference", args.device, shape, args.ref_memory_length, args.threads)
        kind, result = run_in_subprocess(footprint, job)
        rows.append({"backend": "reference", "length": args.ref_memory_length, "status": kind,
                     **(result if kind == "ok" else {"message": result})})  # fmt: skip
        if kind == "ok":
            scale = args.memory_length / args.ref_memory_length
            scaled = {key: result[key] * scale for key in ("forward_s", "backward_s", "peak_mb")}
            rows.append({"backend": "reference", "length": args.memory_length, "status": "ok*", **scaled})
    return rows


def print_memory_table(rows: list[dict], args) -> None:
    print(f"\nselective scan forward + backward on {args.device}, batch {args.batch}, D={args.dim}, N={args.state}, "
          f"threads: torch {args.threads or torch.get_num_threads()}")  # fmt: skip
    header = f"{'backend':<11}{'L':>8}{'forward s':>11}{'backward s':>12}{'total s':>9}{'peak MB':>10}  note"
    print(header)
    print("-" * len(header))
    for row in rows:
        if row["status"] in ("ok", "ok*"):
            mark = "*" if row["status"] == "ok*" else " "
            note = "reference row scaled by L / its length" if mark == "*" else f"ran: {row.get('ran')}"
            total = row["forward_s"] + row["backward_s"]
            print(f"{row['backend']:<11}{row['length']:>8}{row['forward_s']:>10.2f}{mark}{row['backward_s']:>11.2f}"
                  f"{mark}{total:>8.2f}{mark}{row['peak_mb']:>9.0f}{mark}  "
                  f"{note}")  # fmt: skip
        else:
            print(f"{row['backend']:<11}{row['length']:>8}{'':>11}{'':>12}{'':>9}{'':>10}  {row['status']}"
                  f"{': ' + row['message'][-160:] if row.get('message') else ''}")  # fmt: skip
    print("peak MB: peak memory beyond the inputs (outputs and gradients included); CPU: peak RSS, CUDA: allocated.")
    print("Each backend in a fresh process after a warm-up call; one forward + backward, so times are noisy.")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--tables", default="speed,memory", help="tables to print: speed, memory (default both)")
    parser.add_argument("--length", type=int, default=32768, help="sequence length of the speed table (32768)")
    parser.add_argument("--dim", type=int, default=96, help="channels D (default 96)")
    parser.add_argument("--state", type=int, default=16, help="state size N (default 16)")
    parser.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per speed measurement (default 5)")
    parser.add_argument("--backend", help="fast backend of the speed table (default: numba on CPU, triton on CUDA)")
    parser.add_argument(
        "--ref-backward-length", type=int, default=2048, help="length for the reference backward (default 2048)"
    )
    parser.add_argument("--memory-length", type=int, default=262144, help="length of the memory table (262144)")
    parser.add_argument(
        "--ref-memory-length", type=int, default=4096, help="reference length in the memory table (0: skip)"
    )
    parser.add_argument(
        "--memory-backends", help="comma-separated (default: torch,numba on CPU; mamba_ssm,triton,torch)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: library default)")
    args = parser.parse_args(argv)
    cuda = args.device.startswith("cuda")
    args.backend = args.backend or ("triton" if cuda else "numba")
    args.memory_backends = (args.memory_backends or ("mamba_ssm,triton,torch" if cuda else "torch,numba")).split(",")
    if args.threads:
        torch.set_num_threads(args.threads)
    tables = args.tables.split(",")
    if "speed" in tables:
        speed_table(args)
    if "memory" in tables:
        print_memory_table(memory_rows(args), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
