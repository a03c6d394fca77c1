"""The Triton selective scan against the sequential reference.

Without a GPU the kernels run on CPU tensors under Triton's interpreter, in chunks of 16 steps, so lengths 7,
33 and 40 cover one partial chunk, several chunks, and a partial last chunk. Triton fixes its mode when it is
first imported (torch's flop counter imports it too), so tests/conftest.py sets ``TRITON_INTERPRET=1`` for the
whole test process on machines without CUDA, and this module does when run on its own. With CUDA the tests
marked ``gpu`` compare every CUDA backend (mamba-ssm when installed, triton, torch) with the reference, in float32
and with half-precision inputs under autocast.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import pytest
import torch
from test_ops import NAMES, assert_close_relative, scan_inputs

import segmamba.ops as ops
from segmamba.ops import dispatch, selective_scan, selective_scan_ref, selective_scan_with_backend
from segmamba.ops.scan_triton import CHUNK_INTERPRETED, selective_scan_triton

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before the first import of triton in this process
pytest.importorskip("triton")

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture
def interpreter():
    """Skip where the Triton kernels are compiled for a GPU (the gpu tests cover them there)."""
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the gpu tests run the compiled kernels")


def compare_with_reference(inputs, softplus, scan, tol_out=1e-5, tol_grad=1e-4, state_grad=True):
    """Output, last state and every gradient of ``scan`` against the reference.

    The gradients are seeded through the output and, with ``state_grad``, through the last state as well
    (mamba-ssm's last state is not differentiable).
    """
    expected, expected_state = selective_scan_ref(**inputs, delta_softplus=softplus, return_last_state=True)
    actual, actual_state = scan(**inputs, delta_softplus=softplus, return_last_state=True)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    assert actual_state.shape == expected_state.shape and actual_state.dtype == torch.float32
    assert_close_relative(actual, expected, tol_out, "output")
    assert_close_relative(actual_state, expected_state, tol_out, "last state")
    gen = torch.Generator().manual_seed(1)
    seeds = [torch.randn(t.shape, generator=gen).to(t.device) for t in (expected, expected_state)]
    names = [k for k in NAMES if inputs[k] is not None]
    wanted = [inputs[k] for k in names]
    used = 2 if state_grad else 1
    expected_grads = torch.autograd.grad((expected, expected_state)[:used], wanted, seeds[:used])
    actual_grads = torch.autograd.grad((actual, actual_state)[:used], wanted, seeds[:used])
    for name, got, want in zip(names, actual_grads, expected_grads, strict=True):
        assert got.shape == want.shape and got.dtype == want.dtype, name
        assert_close_relative(got, want, tol_grad, f"grad {name}")


def test_interpreter_chunk_is_small_enough_to_need_several_chunks():
    assert CHUNK_INTERPRETED == 16  # the lengths below are chosen against it


@pytest.mark.parametrize("length", [1, 7, 40])
@pytest.mark.parametrize("with_options", [True, False], ids=["z-D-bias-softplus", "plain"])
def test_triton_scan_matches_reference_under_interpreter(interpreter, length, with_options):
    inputs = scan_inputs(2, 2, 3, length, with_d=with_options, with_z=with_options, with_bias=with_options,
                         softplus=with_options, seed=length)  # fmt: skip
    compare_with_reference(inputs, with_options, selective_scan_triton)


@pytest.mark.parametrize(
    ("length", "nstate", "with_d", "with_z", "with_bias", "softplus"),
    [(33, 5, True, False, True, False), (17, 2, False, True, False, True)],
)
def test_triton_scan_mixed_options_under_interpreter(interpreter, length, nstate, with_d, with_z, with_bias, softplus):
    inputs = scan_inputs(2, 2, nstate, length, with_d=with_d, with_z=with_z, with_bias=with_bias, softplus=softplus,
                         seed=length)  # fmt: skip
    compare_with_reference(inputs, softplus, selective_scan_triton)


# one rounding of the float32 result to the output dtype, with a margin of one more (bfloat16 conversion under the
# interpreter truncates); a scan computed in half precision would be off by several units in the last place
HALF_TOLERANCE = {torch.float16: 2**-10, torch.bfloat16: 2**-7}


def assert_rounded_from(actual, expected, dtype, what):
    """Every element of ``actual`` (in ``dtype``) is ``expected`` (float32) up to ~one rounding to ``dtype``."""
    err = (actual.float() - expected).abs()
    bound = HALF_TOLERANCE[dtype] * (expected.abs() + 1e-3 * expected.abs().max())
    assert (err <= bound).all(), f"{what}: worst error {(err / bound).max().item():.2f} x the rounding bound"


def half_inputs(dtype, device, length=20, seed=7):
    """Scan inputs as under autocast in the model: u, delta, B, C, z in ``dtype``; A, D, delta_bias float32.

    Returns (low-precision inputs, the same values in float32), each requiring grad.
    """
    inputs = scan_inputs(2, 3, 4, length, seed=seed)
    low, upcast = {}, {}
    for name, value in inputs.items():
        value = value.detach().to(device)
        low[name] = (value if name in ("A", "D", "delta_bias") else value.to(dtype)).requires_grad_()
        upcast[name] = low[name].detach().float().requires_grad_()
    return low, upcast


def check_half_precision(scan, low, upcast, dtype, autocast_device=None):
    expected = selective_scan_ref(**upcast, delta_softplus=True)
    if autocast_device is None:
        out = scan(**low, delta_softplus=True)
    else:
        with torch.autocast(autocast_device, dtype=dtype):
            out = scan(**low, delta_softplus=True)
    assert out.dtype == dtype
    assert_rounded_from(out, expected, dtype, "output")
    seed = torch.randn(out.shape, generator=torch.Generator().manual_seed(3)).to(dtype).to(out.device)
    names = [k for k in NAMES if low[k] is not None]
    got = torch.autograd.grad(out, [low[k] for k in names], seed)
    want = torch.autograd.grad(expected, [upcast[k] for k in names], seed.float())
    for name, g, w in zip(names, got, want, strict=True):
        assert g.dtype == low[name].dtype, name
        assert_rounded_from(g, w, dtype if g.dtype == dtype else torch.float16, f"grad {name}")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_triton_half_precision_inputs_are_computed_in_float32_under_interpreter(interpreter, dtype):
    low, upcast = half_inputs(dtype, "cpu")
    check_half_precision(selective_scan_triton, low, upcast, dtype)


def test_backend_variable_selects_triton_on_cpu_under_interpreter(interpreter, monkeypatch):
    assert ops.choose_scan_backend("cpu", "triton") == "triton"
    monkeypatch.setattr(dispatch, "_BACKENDS_RUN", set())
    monkeypatch.setenv(ops.BACKEND_ENV_VAR, "triton")
    inputs = scan_inputs(1, 2, 2, 9, seed=21)
    out = selective_scan(**inputs, delta_softplus=True)
    assert_close_relative(out, selective_scan_ref(**inputs, delta_softplus=True), 1e-5, "output")
    assert ops.scan_backend_label() == "triton"


def test_triton_rejects_float64_and_mismatched_shapes(interpreter):
    inputs = scan_inputs(1, 2, 2, 5, dtype=torch.float64)
    with pytest.raises(TypeError, match="float64"):
        selective_scan_triton(**inputs)
    inputs = scan_inputs(1, 2, 2, 5)
    inputs["B"] = inputs["B"][..., :4]
    with pytest.raises(ValueError, match="B has shape"):
        selective_scan_triton(**inputs)


COMPILE_SCRIPT = """
import inspect, json, os, subprocess, sys, tempfile
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from segmamba.ops import scan_triton_kernels as kernels
from segmamba.ops.scan_triton import CHUNK_COMPILED, NUM_WARPS
cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
usage = {}
for half, flags in ((False, True), (True, False)):
    for fn in (kernels.scan_forward, kernels.scan_backward):
        names = list(inspect.signature(fn).parameters)
        const = {name: flags for name in names if name.startswith("HAS_") or name == "SOFTPLUS"}
        const.update(BLOCK_N=16, BLOCK_L=CHUNK_COMPILED)
        low = ("u_ptr", "delta_ptr", "B_ptr", "C_ptr", "z_ptr", "out_ptr", "du_ptr", "ddelta_ptr", "dz_ptr")
        signature = {name: "constexpr" if name in const else ("*fp16" if half and name in low else "*fp32")
                     if name.endswith("_ptr") else "i32" for name in names}
        jit = triton.jit(fn)
        source = ASTSource(jit, signature, constexprs={(names.index(k),): v for k, v in const.items()})
        compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32), options={"num_warps": NUM_WARPS})
        with tempfile.NamedTemporaryFile(suffix=".cubin") as cubin:
            cubin.write(compiled.asm["cubin"])
            cubin.flush()
            dump = subprocess.run([cuobjdump, "--dump-resource-usage", cubin.name], capture_output=True, text=True)
        line = next(l for l in dump.stdout.splitlines() if "REG:" in l)
        fields = dict(item.split(":") for item in line.split() if ":" in item)
        usage[f"{fn.__name__} {'float16' if half else 'float32'}"] = {k: int(fields[k]) for k in ("REG", "STACK")}
print(json.dumps(usage))
"""


def test_compiled_kernels_build_for_sm90_without_spilling_registers():
    # Compiles with Triton's own compiler and bundled ptxas for an H100/H200 (sm_90): no GPU needed. Runs in a
    # fresh process because this one has triton in interpreter mode.
    pytest.importorskip("triton.backends.nvidia")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-c", COMPILE_SCRIPT], capture_output=True, text=True, env=env,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    usage = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(usage) == 4
    for kernel, resources in usage.items():  # with 4 warps the backward needs 320 bytes of stack for spills
        assert resources["STACK"] <= 64, f"{kernel} spills registers: {resources}"


# ---------------------------------------------------------------- every CUDA backend (needs a GPU)


CUDA_BACKENDS = ["mamba_ssm", "triton", "torch"]


def cuda_scan(backend: str):
    """``selective_scan`` on ``backend`` with CUDA tensors; skips mamba-ssm's backend when it is not installed."""
    if backend == "mamba_ssm" and dispatch.cuda_selective_scan_fn() is None:
        pytest.skip("mamba-ssm is not installed")
    return functools.partial(selective_scan_with_backend, backend)


def on_device(inputs, device="cuda"):
    return {k: (v.detach().to(device).requires_grad_() if v is not None else None) for k, v in inputs.items()}


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("backend", CUDA_BACKENDS)
@pytest.mark.parametrize("length", [1, 100, 129, 4099])
@pytest.mark.parametrize("with_options", [True, False], ids=["z-D-bias-softplus", "plain"])
def test_every_cuda_backend_matches_reference_float32(backend, length, with_options, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    scan = cuda_scan(backend)
    inputs = on_device(scan_inputs(2, 4, 16, length, with_d=with_options, with_z=with_options,
                                   with_bias=with_options, softplus=with_options, seed=length))  # fmt: skip
    # mamba-ssm's last state is not differentiable: its gradients are seeded through the output only
    compare_with_reference(inputs, with_options, scan, tol_out=1e-4, tol_grad=1e-3, state_grad=backend != "mamba_ssm")


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("backend", CUDA_BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_every_cuda_backend_with_half_inputs_under_autocast(backend, dtype, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    scan = cuda_scan(backend)
    low, upcast = half_inputs(dtype, "cuda", length=300)
    check_half_precision(scan, low, upcast, dtype, autocast_device="cuda")


@pytest.mark.gpu
@cuda
def test_triton_runs_on_every_cuda_machine(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert "triton" in ops.available_backends(), dispatch.triton_problem("cuda")
