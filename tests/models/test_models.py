"""SegMamba, its ablation variants and the baselines: parameter counts, checkpoint names, output shapes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segmamba.models import build_model, count_parameters, list_models, model_parameter_count
from segmamba.models.blocks import GatedSpatialConv, GlobalSelfAttention, UXBlock
from segmamba.models.blocks.attention import heads_for
from segmamba.models.nets import SegMamba

NARROW_SEGMAMBA = {"feat_size": (8, 16, 32, 64), "hidden_size": 64}
NARROW = {
    "segmamba": NARROW_SEGMAMBA,
    "segmamba_m1": NARROW_SEGMAMBA,
    "segmamba_m2": NARROW_SEGMAMBA,
    "segmamba_m3": NARROW_SEGMAMBA,
    "segmamba_m6": NARROW_SEGMAMBA,
    "segresnet": {"init_filters": 8},
    "uxnet": NARROW_SEGMAMBA,
    "mednext": {"init_filters": 8},
    "unetr": {"feature_size": 8, "hidden_size": 96, "mlp_dim": 192, "num_heads": 4},
    "swinunetr": {"feature_size": 12, "norm_name": ["group", {"num_groups": 1}]},
    "swinunetr_v2": {"feature_size": 12, "norm_name": ["group", {"num_groups": 1}]},
    "nnunet_resenc_m": {
        "features_per_stage": [8, 16, 32, 64],
        "n_blocks_per_stage": [1, 1, 1, 1],
        "n_conv_per_stage_decoder": [1, 1, 1],
    },
}


def published_state_dict_names() -> set[str]:
    """The 291 tensor names of the published BraTS checkpoint, written out from the published model code (https://github.com/ge-xing/SegMamba)."""
    names = {"vit.downsample_layers.0.0.weight", "vit.downsample_layers.0.0.bias"}
    for i in (1, 2, 3):
        names |= {f"vit.downsample_layers.{i}.1.weight", f"vit.downsample_layers.{i}.1.bias"}
    for i in range(4):
        for conv in ("proj", "proj2", "proj3", "proj4"):
            names |= {f"vit.gscs.{i}.{conv}.weight", f"vit.gscs.{i}.{conv}.bias"}
        for fc in ("fc1", "fc2"):
            names |= {f"vit.mlps.{i}.{fc}.weight", f"vit.mlps.{i}.{fc}.bias"}
        for j in range(2):
            layer = f"vit.stages.{i}.{j}"
            names |= {
                f"{layer}.norm.weight",
                f"{layer}.norm.bias",
                f"{layer}.mamba.in_proj.weight",
                f"{layer}.mamba.out_proj.weight",
                f"{layer}.mamba.A_log",
                f"{layer}.mamba.A_b_log",
                f"{layer}.mamba.A_s_log",
            }
            for suffix in ("", "_b", "_s"):
                names |= {
                    f"{layer}.mamba.conv1d{suffix}.weight",
                    f"{layer}.mamba.conv1d{suffix}.bias",
                    f"{layer}.mamba.x_proj{suffix}.weight",
                    f"{layer}.mamba.dt_proj{suffix}.weight",
                    f"{layer}.mamba.dt_proj{suffix}.bias",
                    f"{layer}.mamba.D{suffix}",
                }
    for k in (1, 2, 3, 4, 5):
        names |= {f"encoder{k}.layer.conv{c}.conv.weight" for c in (1, 2, 3)}
    for k in (2, 3, 4, 5):
        names.add(f"decoder{k}.transp_conv.conv.weight")
        names |= {f"decoder{k}.conv_block.conv{c}.conv.weight" for c in (1, 2, 3)}
    names |= {"decoder1.layer.conv1.conv.weight", "decoder1.layer.conv2.conv.weight"}
    return names | {"out.conv.conv.weight", "out.conv.conv.bias"}


@pytest.fixture(scope="module")
def brats_segmamba():
    torch.manual_seed(0)
    return build_model("segmamba", 4, 4)


def test_segmamba_brats_parameter_count(brats_segmamba):
    assert count_parameters(brats_segmamba) == 67_416_196
    assert count_parameters(brats_segmamba.vit) == 15_718_080
    layers = [count_parameters(brats_segmamba.vit.stages[i][0]) for i in range(4)]
    assert layers == [31_488, 94_080, 312_576, 1_122_816]
    assert [count_parameters(g) for g in brats_segmamba.vit.gscs] == [129_216, 516_480, 2_065_152, 8_259_072]
    assert count_parameters(brats_segmamba.encoder5) + count_parameters(brats_segmamba.decoder5) == 38_780_928
    assert list(brats_segmamba.buffers()) == []


def test_segmamba_state_dict_matches_the_published_checkpoint(brats_segmamba):
    state = brats_segmamba.state_dict()
    assert len(state) == 291
    assert set(state) == published_state_dict_names()
    assert state["vit.stages.3.1.mamba.x_proj_s.weight"].shape == (56, 768)
    assert state["vit.downsample_layers.0.0.weight"].shape == (48, 4, 7, 7, 7)
    checkpoint = {f"module.{k}": torch.zeros_like(v) for k, v in state.items()}  # as the trainer saves them
    fresh = SegMamba()
    fresh.load_state_dict({k.removeprefix("module."): v for k, v in checkpoint.items()}, strict=True)
    assert fresh.vit.stages[1][1].mamba.A_b_log.abs().sum() == 0


def test_segmamba_parameters_are_float32(brats_segmamba):
    assert {p.dtype for p in brats_segmamba.parameters()} == {torch.float32}


def test_uxnet_parameter_count():
    model = build_model("uxnet", 4, 4)
    assert count_parameters(model) == 53_059_444
    assert count_parameters(model.uxnet_3d) == 1_361_328
    assert model_parameter_count("uxnet", 4, 3) == 53_059_395


@pytest.mark.parametrize(
    "name, expected",
    [("segresnet", 18_798_660), ("mednext", 10_511_012), ("unetr", 102_468_164)],
)
def test_monai_baseline_parameter_counts(name, expected):
    assert model_parameter_count(name, 4, 4) == expected


@pytest.mark.slow
@pytest.mark.parametrize("name, expected", [("swinunetr", 62_191_990), ("swinunetr_v2", 72_767_350)])
def test_swin_parameter_counts(name, expected):
    assert model_parameter_count(name, 4, 4) == expected


def test_ux_block_has_360c_parameters_and_small_layer_scale():
    block = UXBlock(32)
    assert count_parameters(block) == 360 * 32
    assert torch.allclose(block.gamma, torch.full((32,), 1e-6))
    x = torch.randn(1, 32, 6, 6, 6)
    assert (block(x) - x).abs().max() < 1e-3  # near-identity at initialisation


@pytest.mark.parametrize("name", list(NARROW))
def test_output_shape_at_32_cubed(name):
    torch.manual_seed(0)
    model = build_model(name, 4, 3, patch_size=32, **NARROW[name]).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 4, 32, 32, 32))
    assert out.shape == (1, 3, 32, 32, 32)
    assert torch.isfinite(out).all()


def test_every_registered_model_has_a_shape_test():
    assert set(list_models()) == set(NARROW)


@pytest.mark.slow
def test_anisotropic_input_and_backward_through_segmamba():
    torch.manual_seed(0)
    model = build_model("segmamba", 2, 3, patch_size=(32, 48, 32), feat_size=(4, 8, 8, 16), hidden_size=16)
    out = model(torch.randn(1, 2, 32, 48, 32))
    assert out.shape == (1, 3, 32, 48, 32)
    out.square().mean().backward()
    mixer = model.vit.stages[0][0].mamba
    for name in ("A_log", "A_b_log", "A_s_log", "D_s", "conv1d_b.weight", "x_proj_s.weight"):
        grad = mixer.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name


def _gsc_by_hand(gsc: GatedSpatialConv, x: torch.Tensor, gate: str) -> torch.Tensor:
    """conv -> InstanceNorm -> ReLU units written with functional ops."""

    def unit(conv, inp):
        return F.relu(F.instance_norm(F.conv3d(inp, conv.weight, conv.bias, padding=conv.padding), eps=1e-5))

    a = unit(gsc.proj2, unit(gsc.proj, x))
    b = unit(gsc.proj3, x)
    return x + unit(gsc.proj4, a + b if gate == "add" else a * b)


@pytest.mark.parametrize("gate", ["add", "multiply"])
def test_gsc_gate(gate):
    torch.manual_seed(0)
    gsc = GatedSpatialConv(4, gate=gate)
    x = torch.randn(2, 4, 5, 6, 4)
    torch.testing.assert_close(gsc(x), _gsc_by_hand(gsc, x, gate))
    assert count_parameters(gsc) == 56 * 16 + 4 * 4


def test_gsc_gate_option_changes_the_model_not_its_parameters():
    torch.manual_seed(0)
    added = build_model("segmamba", 1, 2, patch_size=32, feat_size=(4, 8, 8, 16), hidden_size=16)
    multiplied = build_model(
        "segmamba", 1, 2, patch_size=32, feat_size=(4, 8, 8, 16), hidden_size=16, gsc_gate="multiply"
    )
    multiplied.load_state_dict(added.state_dict(), strict=True)
    x = torch.randn(1, 1, 32, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(added(x), multiplied(x))
    assert added.vit.gscs[2].gate == "add" and multiplied.vit.gscs[2].gate == "multiply"


def _names(name: str) -> set[str]:
    return set(build_model(name, 4, 4, patch_size=32, feat_size=(4, 8, 8, 16), hidden_size=16).state_dict())


def test_ablation_variants_differ_as_specified():
    full, m1, m2, m3, m6 = (_names(n) for n in ("segmamba", "segmamba_m1", "segmamba_m2", "segmamba_m3", "segmamba_m6"))

    def has(names, fragment):
        return any(fragment in n for n in names)

    assert has(full, "vit.gscs.") and has(full, "mamba.A_b_log") and has(full, "mamba.conv1d_s.")
    assert not has(m1, "vit.gscs.") and has(m1, "mamba.A_log") and has(m1, "mamba.conv1d.")
    assert not any(has(m1, f"mamba.{p}") for p in ("A_b_log", "A_s_log", "D_b", "D_s", "conv1d_b", "x_proj_s"))
    assert has(m2, "vit.gscs.") and has(m2, "mamba.A_log") and not has(m2, "mamba.A_b_log")
    assert not has(m2, "mamba.x_proj_s")
    assert not has(m3, "vit.gscs.") and has(m3, "mamba.A_s_log") and has(m3, "mamba.dt_proj_b.")
    assert has(m6, "vit.gscs.") and has(m6, "attn.qkv.weight") and not has(m6, "mamba")
    assert m3 == full - {n for n in full if "vit.gscs." in n}
    assert m2 == {n for n in full if not any(s in n for s in ("_b.", "_s.", "_b_log", "_s_log", "D_b", "D_s"))}


@pytest.mark.parametrize("kernel", ["auto", "math"])
def test_global_attention_matches_softmax_attention_written_out(kernel):
    torch.manual_seed(0)
    attention = GlobalSelfAttention(32, head_dim=16, kernel=kernel)
    assert attention.num_heads == 2
    tokens = torch.randn(2, 10, 32)
    q, k, v = attention.qkv(tokens).chunk(3, dim=-1)

    def heads(t):
        return t.view(2, 10, 2, 16).transpose(1, 2)

    weights = torch.softmax(heads(q) @ heads(k).transpose(-1, -2) / 4.0, dim=-1)
    expected = attention.proj((weights @ heads(v)).transpose(1, 2).reshape(2, 10, 32))
    torch.testing.assert_close(attention(tokens, (2, 5, 1)), expected, rtol=1e-5, atol=1e-5)


def test_attention_heads_divide_channels():
    assert [heads_for(c, 16) for c in (48, 96, 192, 384, 8, 24, 40)] == [3, 6, 12, 24, 1, 1, 2]
