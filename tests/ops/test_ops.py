"""Selective scan and causal conv1d: every fast path against the sequential reference, and dispatch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import segmamba.ops as ops
from segmamba.ops import (
    causal_conv1d,
    causal_conv1d_ref,
    causal_conv1d_torch,
    choose_scan_backend,
    dispatch,
    selective_scan,
    selective_scan_ref,
    selective_scan_torch,
    selective_scan_with_backend,
)
from segmamba.ops.scan_numba import selective_scan_cpu

FAST_SCANS = {"numba": selective_scan_cpu, "torch": selective_scan_torch}
NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def scan_inputs(
    batch, dim, nstate, length, dtype=torch.float32, seed=0, with_d=True, with_z=True, with_bias=True, softplus=True
):
    """Random scan inputs (all requiring grad); optional ones are None when switched off.

    delta is centred at -1 for softplus (both signs occur) and positive without it (a stable scan).
    """
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=1.0, shift=0.0):
        return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale + shift).to(dtype)

    values = {
        "u": rand(batch, dim, length),
        "delta": rand(batch, dim, length, scale=0.5, shift=-1.0) if softplus else rand(batch, dim, length).abs() * 0.5,
        "A": -torch.exp(rand(dim, nstate, scale=0.5)),
        "B": rand(batch, nstate, length),
        "C": rand(batch, nstate, length),
        "D": rand(dim) if with_d else None,
        "z": rand(batch, dim, length) if with_z else None,
        "delta_bias": rand(dim, scale=0.3).abs() if with_bias else None,
    }
    return {k: (v.requires_grad_() if v is not None else None) for k, v in values.items()}


def grads_of(out, inputs, grad_out):
    """Gradients of sum(out * grad_out) w.r.t. every non-None input, by name."""
    names = [k for k in NAMES if inputs[k] is not None]
    grads = torch.autograd.grad(out, [inputs[k] for k in names], grad_out, materialize_grads=True)
    return dict(zip(names, grads, strict=True))


def assert_close_relative(actual, expected, tol, what):
    """max |actual - expected| <= tol * max |expected| (plus a tiny floor for all-zero tensors)."""
    err = (actual.double() - expected.double()).abs().max().item()
    scale = expected.double().abs().max().item()
    assert err <= tol * scale + 1e-12, f"{what}: max error {err:.3g} vs scale {scale:.3g}"


@pytest.mark.parametrize("backend", sorted(FAST_SCANS))
@pytest.mark.parametrize("length", [1, 7, 100, 257])
@pytest.mark.parametrize(
    "with_d, with_z, with_bias, softplus",
    [(True, True, True, True), (False, False, False, False), (True, False, True, False), (False, True, False, True)],
)
def test_fast_scan_matches_reference(backend, length, with_d, with_z, with_bias, softplus):
    inputs = scan_inputs(
        2, 5, 4, length, with_d=with_d, with_z=with_z, with_bias=with_bias, softplus=softplus, seed=length
    )
    expected, expected_state = selective_scan_ref(**inputs, delta_softplus=softplus, return_last_state=True)
    actual, actual_state = FAST_SCANS[backend](**inputs, delta_softplus=softplus, return_last_state=True)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    assert_close_relative(actual, expected, 1e-5, "output")
    assert_close_relative(actual_state, expected_state, 1e-5, "last state")
    grad_out = torch.randn(expected.shape, generator=torch.Generator().manual_seed(1))
    expected_grads = grads_of(expected, inputs, grad_out)
    actual_grads = grads_of(actual, inputs, grad_out)
    for name, grad in expected_grads.items():
        assert actual_grads[name].shape == grad.shape
        assert_close_relative(actual_grads[name], grad, 1e-4, f"grad {name}")


@pytest.mark.parametrize("backend", sorted(FAST_SCANS))
def test_fast_scan_long_sequence_with_several_chunks(backend):
    inputs = scan_inputs(1, 16, 16, 1000, seed=3)
    expected = selective_scan_ref(**inputs, delta_softplus=True)
    actual = FAST_SCANS[backend](**inputs, delta_softplus=True)
    assert_close_relative(actual, expected, 1e-5, "output")
    grad_out = torch.randn(expected.shape, generator=torch.Generator().manual_seed(2))
    expected_grads = grads_of(expected, inputs, grad_out)
    for name, grad in grads_of(actual, inputs, grad_out).items():
        assert_close_relative(grad, expected_grads[name], 1e-4, f"grad {name}")


@pytest.mark.parametrize("backend", sorted(FAST_SCANS))
def test_fast_scan_gradcheck_float64(backend):
    inputs = scan_inputs(2, 3, 2, 6, dtype=torch.float64, seed=5)
    tensors = tuple(inputs[k] for k in NAMES)

    def scan(*args):
        return FAST_SCANS[backend](*args, delta_softplus=True)

    assert torch.autograd.gradcheck(scan, tensors, eps=1e-6, atol=1e-6)


def test_reference_gradcheck_float64():
    inputs = scan_inputs(1, 2, 2, 4, dtype=torch.float64, seed=6)
    tensors = tuple(inputs[k] for k in NAMES)
    assert torch.autograd.gradcheck(lambda *a: selective_scan_ref(*a, delta_softplus=True), tensors)


def test_reference_scan_matches_hand_computed_recurrence():
    # one channel, one state, no softplus: h_t = exp(dt*a) h_{t-1} + dt*b_t*u_t, y_t = c_t h_t + d u_t
    u = torch.tensor([[[1.0, 2.0, -1.0]]])
    delta = torch.tensor([[[0.5, 1.0, 0.25]]])
    A = torch.tensor([[-2.0]])
    B = torch.tensor([[[1.0, -1.0, 2.0]]])
    C = torch.tensor([[[3.0, 0.5, 1.0]]])
    D = torch.tensor([0.1])
    h, expected = 0.0, []
    for t in range(3):
        h = np.exp(delta[0, 0, t].item() * -2.0) * h + delta[0, 0, t].item() * B[0, 0, t].item() * u[0, 0, t].item()
        expected.append(C[0, 0, t].item() * h + 0.1 * u[0, 0, t].item())
    for scan in (selective_scan_ref, selective_scan_cpu, selective_scan_torch):
        out = scan(u, delta, A, B, C, D)
        np.testing.assert_allclose(out[0, 0].numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("backend", sorted(FAST_SCANS))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_are_computed_in_float32(backend, dtype):
    inputs = scan_inputs(1, 4, 3, 20, seed=7)
    low = {k: (v.detach().to(dtype) if v is not None and k != "A" and k != "D" else v) for k, v in inputs.items()}
    upcast = {k: (v.float() if v is not None else None) for k, v in low.items()}
    out = FAST_SCANS[backend](**low, delta_softplus=True)
    assert out.dtype == dtype
    expected = selective_scan_ref(**upcast, delta_softplus=True)
    assert torch.equal(out, expected.to(dtype)) or (out.float() - expected).abs().max() <= 1e-2 * expected.abs().max()


@pytest.mark.parametrize("backend", sorted(FAST_SCANS))
def test_autocast_keeps_scan_in_float32(backend):
    inputs = scan_inputs(1, 4, 3, 20, seed=8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = FAST_SCANS[backend](**inputs, delta_softplus=True)
    assert out.dtype == torch.float32
    assert_close_relative(out, selective_scan_ref(**inputs, delta_softplus=True), 1e-5, "autocast output")


def test_fast_exp_and_softplus_accuracy():
    from numba import njit

    from segmamba.ops.scan_numba_kernels import fast_exp, sigmoid, softplus

    @njit
    def apply(x):
        out = np.empty((3, x.size), dtype=x.dtype)
        for i in range(x.size):
            out[0, i] = fast_exp(x[i])
            out[1, i] = softplus(x[i])
            out[2, i] = sigmoid(x[i])
        return out

    x = np.linspace(-80.0, 80.0, 100001).astype(np.float32)
    got = apply(x).astype(np.float64)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(got[0], np.exp(x64), rtol=5e-7)
    np.testing.assert_allclose(got[1], np.logaddexp(0.0, x64), rtol=5e-7, atol=1e-30)
    np.testing.assert_allclose(got[2], 1.0 / (1.0 + np.exp(-x64)), rtol=5e-7, atol=1e-30)
    assert apply(np.array([0.0], np.float32))[0, 0] == 1.0


def test_empty_sequence():
    inputs = scan_inputs(1, 3, 2, 0)
    for scan in FAST_SCANS.values():
        out, state = scan(**inputs, return_last_state=True)
        assert out.shape == (1, 3, 0) and state.shape == (1, 3, 2)
        assert not state.any()


@pytest.mark.parametrize(("length", "chunk"), [(7, 4), (40, 16), (300, 17), (1000, 256)])
@pytest.mark.parametrize("with_options", [True, False])
def test_torch_scan_carries_state_and_gradients_across_chunks(length, chunk, with_options):
    # chunk 17 leaves a tail after the last block of 16 steps; 256 recurses twice over block totals
    inputs = scan_inputs(2, 3, 5, length, with_d=with_options, with_z=with_options, with_bias=with_options,
                         softplus=with_options, seed=length)  # fmt: skip
    expected, expected_state = selective_scan_ref(**inputs, delta_softplus=with_options, return_last_state=True)
    actual, actual_state = selective_scan_torch(
        **inputs, delta_softplus=with_options, return_last_state=True, chunk=chunk
    )
    assert_close_relative(actual, expected, 1e-5, "output")
    assert_close_relative(actual_state, expected_state, 1e-5, "last state")
    gen = torch.Generator().manual_seed(4)
    seeds = (torch.randn(expected.shape, generator=gen), torch.randn(expected_state.shape, generator=gen))
    names = [k for k in NAMES if inputs[k] is not None]
    wanted = [inputs[k] for k in names]
    expected_grads = torch.autograd.grad((expected, expected_state), wanted, seeds)
    actual_grads = torch.autograd.grad((actual, actual_state), wanted, seeds)
    for name, got, want in zip(names, actual_grads, expected_grads, strict=True):
        assert_close_relative(got, want, 1e-4, f"grad {name} (through the output and the last state)")


def test_torch_scan_gradcheck_float64_across_chunks():
    inputs = scan_inputs(2, 3, 2, 11, dtype=torch.float64, seed=9)
    tensors = tuple(inputs[k] for k in NAMES)

    def scan(*args):
        out, last = selective_scan_torch(*args, delta_softplus=True, return_last_state=True, chunk=4)
        return out, last

    assert torch.autograd.gradcheck(scan, tensors, eps=1e-6, atol=1e-6)


LEAN_MEMORY_SCRIPT = """
import resource, torch
from segmamba.ops.scan_torch_chunked import selective_scan_torch
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def forward_backward(length, dim=16, nstate=16):
    gen = torch.Generator().manual_seed(length)
    rand = lambda *shape: torch.randn(*shape, generator=gen).requires_grad_()
    inputs = dict(u=rand(1, dim, length), delta=rand(1, dim, length), A=-torch.rand(dim, nstate).requires_grad_(),
                  B=rand(1, nstate, length), C=rand(1, nstate, length), D=rand(dim), z=rand(1, dim, length),
                  delta_bias=rand(dim))
    out = selective_scan_torch(**inputs, delta_softplus=True)
    torch.autograd.grad(out, list(inputs.values()), torch.randn(out.shape, generator=gen))
    # inputs, their gradients, the output and its gradient: what any implementation must hold
    return (2 * sum(t.numel() for t in inputs.values()) + 2 * out.numel()) * 4 / 2**20
needed_short = forward_backward(16384)
short_mb = peak_mb()
needed_long = forward_backward(65536)
print(peak_mb() - short_mb - (needed_long - needed_short))
"""


@pytest.mark.slow
def test_torch_scan_memory_does_not_grow_with_length_times_state():
    # Going from L = 16,384 to 65,536 (d = 16, n = 16) adds 48 MB to every (b, d, L, n) float32 tensor; the former
    # scan kept about 20 of them for autograd. The chunked scan holds only (b, d, CHUNK, n) tensors, so beyond the
    # growth of its inputs, output and their gradients (36 MB) its peak should not grow at all.
    grown_mb = float(subprocess.run([sys.executable, "-c", LEAN_MEMORY_SCRIPT], capture_output=True, text=True,
                                    check=True).stdout)  # fmt: skip
    full_state_growth_mb = 16 * (65536 - 16384) * 16 * 4 / 2**20
    assert grown_mb < full_state_growth_mb / 4, f"peak memory grew by {grown_mb:.0f} MB more than needed"


# ---------------------------------------------------------------- causal conv1d


@pytest.mark.parametrize("length", [1, 3, 50])
@pytest.mark.parametrize("width", [2, 4])
@pytest.mark.parametrize("activation", [None, "silu"])
@pytest.mark.parametrize("with_bias", [True, False])
def test_causal_conv1d_matches_reference(length, width, activation, with_bias):
    gen = torch.Generator().manual_seed(length * 10 + width)
    x = torch.randn(2, 6, length, generator=gen, requires_grad=True)
    weight = torch.randn(6, width, generator=gen, requires_grad=True)
    bias = torch.randn(6, generator=gen, requires_grad=True) if with_bias else None
    params = [p for p in (x, weight, bias) if p is not None]
    expected = causal_conv1d_ref(x, weight, bias, activation)
    actual = causal_conv1d_torch(x, weight, bias, activation)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)
    grad_out = torch.randn(expected.shape, generator=gen)
    expected_grads = torch.autograd.grad(expected, params, grad_out)
    for got, want in zip(torch.autograd.grad(actual, params, grad_out), expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_causal_conv1d_reference_is_causal_and_hand_checked():
    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    weight = torch.tensor([[0.5, -1.0, 2.0]])  # weight[:, -1] multiplies the current step
    out = causal_conv1d_ref(x, weight, torch.tensor([1.0]))
    expected = [1 + 2 * 1, 1 + 2 * 2 - 1 * 1, 1 + 2 * 3 - 1 * 2 + 0.5 * 1, 1 + 2 * 4 - 1 * 3 + 0.5 * 2]
    assert out[0, 0].tolist() == expected


def test_causal_conv1d_gradcheck_float64():
    gen = torch.Generator().manual_seed(0)
    args = (
        torch.randn(1, 3, 5, dtype=torch.float64, generator=gen, requires_grad=True),
        torch.randn(3, 4, dtype=torch.float64, generator=gen, requires_grad=True),
        torch.randn(3, dtype=torch.float64, generator=gen, requires_grad=True),
    )
    assert torch.autograd.gradcheck(lambda x, w, b: causal_conv1d_torch(x, w, b, "silu"), args)


def test_causal_conv1d_rejects_unknown_activation():
    with pytest.raises(ValueError, match="activation"):
        causal_conv1d(torch.zeros(1, 1, 3), torch.zeros(1, 2), activation="relu")


# ---------------------------------------------------------------- dispatch


@pytest.fixture
def no_cuda_kernels(monkeypatch):
    """Make mamba-ssm and causal-conv1d unimportable, whatever is installed."""
    cached = (dispatch.cuda_selective_scan_fn, dispatch.cuda_causal_conv1d_fn, dispatch._warn_cuda_fallback)
    for name in ("mamba_ssm", "mamba_ssm.ops", "mamba_ssm.ops.selective_scan_interface", "causal_conv1d"):
        monkeypatch.setitem(sys.modules, name, None)
    for function in cached:
        function.cache_clear()
    monkeypatch.delenv(ops.BACKEND_ENV_VAR, raising=False)
    yield
    for function in cached:
        function.cache_clear()


def test_cuda_falls_back_to_triton_when_mamba_ssm_missing(no_cuda_kernels, monkeypatch):
    monkeypatch.setattr(dispatch, "triton_problem", lambda device_type: None)  # as on a CUDA machine with triton
    with pytest.warns(RuntimeWarning, match="mamba-ssm is not importable.*Triton kernels"):
        assert choose_scan_backend("cuda") == "triton"
    assert choose_scan_backend("cpu") == "numba"  # the numba kernels stay the CPU default


def test_cuda_falls_back_to_torch_when_mamba_ssm_and_triton_missing(no_cuda_kernels, monkeypatch):
    monkeypatch.setattr(dispatch, "triton_problem", lambda device_type: "triton is not importable")
    assert dispatch.cuda_selective_scan_fn() is None
    assert dispatch.cuda_causal_conv1d_fn() is None
    with pytest.warns(RuntimeWarning, match="pure-torch path.*triton is not importable"):
        assert choose_scan_backend("cuda") == "torch"
    with pytest.raises(RuntimeError, match="scan backend 'triton' cannot run: triton is not importable"):
        choose_scan_backend("cuda", "triton")
    assert choose_scan_backend("cpu") == "numba"
    assert choose_scan_backend("mps") == "torch"
    assert "mamba_ssm" not in ops.available_backends()
    assert {"reference", "numba", "torch"} <= set(ops.available_backends())


def test_forcing_cuda_without_kernels_raises_actionable_error(no_cuda_kernels, monkeypatch):
    with pytest.raises(RuntimeError, match="mamba-ssm"):
        choose_scan_backend("cuda", "mamba_ssm")
    monkeypatch.setenv(ops.BACKEND_ENV_VAR, "mamba_ssm")
    inputs = scan_inputs(1, 2, 2, 3)
    with pytest.raises(RuntimeError, match="pip install"):
        selective_scan(**inputs)
    with pytest.raises(RuntimeError, match="causal-conv1d"):
        causal_conv1d(torch.zeros(1, 2, 3), torch.zeros(2, 4))


def test_cuda_kernels_are_used_for_cuda_tensors_only(no_cuda_kernels, monkeypatch):
    calls = []

    def fake_scan(*args):
        calls.append(len(args))
        return "fused"

    monkeypatch.setattr(dispatch, "cuda_selective_scan_fn", lambda: fake_scan)
    assert choose_scan_backend("cuda") == "mamba_ssm"
    assert choose_scan_backend("cpu") == "numba"
    assert dispatch.scan_function("mamba_ssm") is fake_scan
    inputs = scan_inputs(1, 2, 2, 3)
    out = selective_scan(**inputs)  # CPU tensors: never the CUDA kernel
    assert isinstance(out, torch.Tensor) and not calls


def test_unknown_backend_names_are_rejected(monkeypatch):
    monkeypatch.setenv(ops.BACKEND_ENV_VAR, "fastest")
    with pytest.raises(ValueError, match="SEGMAMBA_SCAN_BACKEND"):
        ops.requested_backend()
    with pytest.raises(ValueError, match="scan backend 'fastest' is not one of reference, numba"):
        choose_scan_backend("cpu", "fastest")
    with pytest.raises(RuntimeError, match="CPU tensors"):
        choose_scan_backend("cuda", "numba")


@pytest.mark.parametrize("backend", ["reference", "numba", "torch"])
def test_env_var_selects_backend(backend, monkeypatch):
    inputs = scan_inputs(1, 3, 2, 9, seed=11)
    used = []
    real = dispatch.scan_function

    def spy(name):
        used.append(name)
        return real(name)

    monkeypatch.setattr(dispatch, "scan_function", spy)
    monkeypatch.setenv(ops.BACKEND_ENV_VAR, backend)
    out = selective_scan(**inputs, delta_softplus=True)
    assert used == [backend]
    assert_close_relative(out, selective_scan_ref(**inputs, delta_softplus=True), 1e-5, backend)
    x, weight = torch.randn(1, 3, 6), torch.randn(3, 4)
    torch.testing.assert_close(causal_conv1d(x, weight, activation="silu"), causal_conv1d_ref(x, weight, None, "silu"))


def test_forcing_triton_on_cpu_needs_the_interpreter(monkeypatch):
    pytest.importorskip("triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        choose_scan_backend("cpu", "triton")


def test_backends_that_ran_are_recorded(monkeypatch):
    monkeypatch.setattr(dispatch, "_BACKENDS_RUN", set())
    assert ops.scan_backends_run() == frozenset() and ops.scan_backend_label() is None
    inputs = scan_inputs(1, 2, 2, 5, seed=13)
    monkeypatch.setenv(ops.BACKEND_ENV_VAR, "torch")
    selective_scan(**inputs)
    assert ops.scan_backends_run() == {"torch"} and ops.scan_backend_label() == "torch"
    selective_scan_with_backend("reference", **inputs)
    assert ops.scan_backend_label() == "reference+torch"
    monkeypatch.setenv(ops.BACKEND_ENV_VAR, "mamba_ssm")
    with pytest.raises(RuntimeError):
        selective_scan(**inputs)  # a backend that cannot run is not recorded
    assert ops.scan_backends_run() == {"reference", "torch"}


def test_selective_scan_with_backend_matches_default_dispatch(monkeypatch):
    monkeypatch.delenv(ops.BACKEND_ENV_VAR, raising=False)
    inputs = scan_inputs(2, 4, 3, 33, seed=12)
    auto = selective_scan(**inputs, delta_softplus=True)
    torch.testing.assert_close(auto, selective_scan_with_backend("numba", **inputs, delta_softplus=True))


@pytest.mark.parametrize(("old", "new"), [("cpu", "numba"), ("cuda", "mamba_ssm")])
def test_old_backend_names_still_work_with_a_deprecation_message(old, new, monkeypatch):
    monkeypatch.setenv(ops.BACKEND_ENV_VAR, old)
    with pytest.warns(FutureWarning, match=f"SEGMAMBA_SCAN_BACKEND '{old}' is deprecated.*use '{new}'"):
        assert ops.requested_backend() == new


def test_old_backend_names_are_renamed_when_forced_explicitly():
    with pytest.warns(FutureWarning, match="scan backend 'cpu' is deprecated.*use 'numba'"):
        assert choose_scan_backend("cpu", "cpu") == "numba"
    with (
        pytest.warns(FutureWarning, match="scan backend 'cuda' is deprecated.*use 'mamba_ssm'"),
        pytest.raises(RuntimeError, match="scan backend 'mamba_ssm' needs CUDA tensors"),
    ):
        choose_scan_backend("cpu", "cuda")


def test_the_old_cpu_name_runs_and_records_the_numba_scan(monkeypatch):
    monkeypatch.setattr(dispatch, "_BACKENDS_RUN", set())
    monkeypatch.setenv(ops.BACKEND_ENV_VAR, "cpu")
    inputs = scan_inputs(1, 2, 2, 5, seed=14)
    with pytest.warns(FutureWarning, match="use 'numba'"):
        out = selective_scan(**inputs)
    assert ops.scan_backend_label() == "numba"
    assert_close_relative(out, selective_scan_ref(**inputs), 1e-5, "output")
