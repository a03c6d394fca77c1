"""Benchmark the selective scan: sequential reference vs fast path, forward and backward.

Prints a table of milliseconds per call (median of --repeats) and the speed-up of the fast path, for a
Mamba-like setting: random u, delta, B, C, z, D, delta_bias, A = -exp(A_log) with A_log = log(1..N),
softplus on. The reference backward (torch autograd through the sequential loop) is very slow at long
lengths, so it is measured at --ref-backward-length (the table says so); the fast path is measured
there too, and at full length.

Usage: python benchmarks/scan.py [--length 32768] [--dim 96] [--state 16] [--batch 1] [--repeats 5]
       [--backend cpu] [--ref-backward-length 2048] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import torch

from segmamba.ops import selective_scan_ref, selective_scan_with_backend


def make_inputs(batch: int, dim: int, state: int, length: int, seed: int = 0) -> dict:
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
    return {name: t.requires_grad_() for name, t in inputs.items()}


def time_call(fn, repeats: int, warmup: bool = True) -> tuple[float, float]:
    """Median (wall ms, process CPU ms) of fn() over ``repeats`` calls, after one warm-up call if asked.

    CPU time sums all threads of this process; it is less affected by other processes sharing the cores.
    """
    if warmup:
        fn()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append((time.perf_counter() - wall) * 1e3)
        cpus.append((time.process_time() - cpu) * 1e3)
    return statistics.median(walls), statistics.median(cpus)


def measure(scan, inputs: dict, repeats: int, warmup: bool = True) -> tuple[tuple, tuple]:
    """((wall, cpu) forward ms, (wall, cpu) backward ms) of ``scan`` on ``inputs``.

    Backward is one ``out.backward(g)`` after an untimed forward. The warm-up call (JIT compilation or
    cache load) is skipped for the reference, which has none.
    """
    grad = torch.randn(inputs["u"].shape, generator=torch.Generator().manual_seed(1))

    def forward():
        with torch.no_grad():
            return scan(**inputs, delta_softplus=True)

    outputs = []

    def backward():
        outputs.pop().backward(grad)

    forward_ms = time_call(forward, repeats, warmup)
    walls, cpus = [], []
    for _ in range(repeats + int(warmup)):
        outputs.append(scan(**inputs, delta_softplus=True))
        wall, cpu = time_call(backward, 1, warmup=False)
        walls.append(wall)
        cpus.append(cpu)
    backward_ms = statistics.median(walls[int(warmup) :]), statistics.median(cpus[int(warmup) :])
    return forward_ms, backward_ms


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=32768, help="sequence length L (default 32768)")
    parser.add_argument("--dim", type=int, default=96, help="channels D (default 96)")
    parser.add_argument("--state", type=int, default=16, help="state size N (default 16)")
    parser.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per measurement (default 5)")
    parser.add_argument("--backend", default="cpu", help="fast backend to compare: cpu or torch (default cpu)")
    parser.add_argument(
        "--ref-backward-length", type=int, default=2048, help="length for the reference backward (default 2048)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch/numba threads (default: library default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
        numba.set_num_threads(args.threads)

    def fast(**kw):
        return selective_scan_with_backend(args.backend, **kw)

    shape = (args.batch, args.dim, args.state)
    full = make_inputs(*shape, args.length)
    short = make_inputs(*shape, min(args.length, args.ref_backward_length))
    ref_repeats = max(1, min(args.repeats, 3))

    fast_fwd, fast_bwd = measure(fast, full, args.repeats)
    ref_fwd = time_call(lambda: _no_grad(selective_scan_ref, full), ref_repeats, warmup=False)
    fast_fwd_short, fast_bwd_short = measure(fast, short, args.repeats)
    ref_fwd_short, ref_bwd_short = measure(selective_scan_ref, short, ref_repeats, warmup=False)

    long_l, short_l = args.length, short["u"].shape[-1]
    scale = long_l / short_l
    rows = [
        ("forward", long_l, ref_fwd, fast_fwd, ""),
        ("forward", short_l, ref_fwd_short, fast_fwd_short, ""),
        ("backward", short_l, ref_bwd_short, fast_bwd_short, ""),
        ("backward", long_l, (ref_bwd_short[0] * scale, ref_bwd_short[1] * scale), fast_bwd, "*"),
    ]
    print(f"selective scan, batch {args.batch}, D={args.dim}, N={args.state}, fast backend '{args.backend}', "
          f"threads: torch {torch.get_num_threads()}, numba {numba.get_num_threads()}")  # fmt: skip
    header = (
        f"{'pass':<9}{'L':>6}{'ref ms':>11}{'fast ms':>9}{'fast steps/s':>13}{'ratio':>8}"
        f"{'ref CPU ms':>12}{'fast CPU ms':>12}{'CPU ratio':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, length, (ref_wall, ref_cpu), (fast_wall, fast_cpu), mark in rows:
        print(
            f"{name:<9}{length:>6}{ref_wall:>10.1f}{mark or ' '}{fast_wall:>9.2f}{length / fast_wall * 1e3:>13.0f}"
            f"{ref_wall / fast_wall:>7.1f}x{ref_cpu:>11.1f}{mark or ' '}{fast_cpu:>12.2f}{ref_cpu / fast_cpu:>9.1f}x"
        )
    print(f"* reference backward at L={long_l} extrapolated linearly from L={short_l} (too slow to run)")
    print("ratio: wall-clock speed-up; CPU ratio: speed-up in process CPU time (all threads), which depends")
    print("less on other processes sharing the cores. Median of --repeats calls (reference: at most 3).")
    return 0


def _no_grad(fn, inputs: dict):
    with torch.no_grad():
        return fn(**inputs, delta_softplus=True)


if __name__ == "__main__":
    raise SystemExit(main())
