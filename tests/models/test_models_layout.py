"""The SegMamba family sees the published (Z, Y, X) array layout: an independent functional re-statement of the
published network on the transposed volume, a labelled toy volume showing the axial scan order, and inference
(sliding window, mirror TTA, non-cubic patches) through the transposing model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segmamba.inference.sliding_window import predict_logits
from segmamba.models import build_model
from segmamba.models.blocks.scan_order import to_sequence

SMALL = {"feat_size": (4, 8, 8, 16), "hidden_size": 16, "depths": (1, 1, 1, 1)}
VARIANTS = {  # registry name: (scan directions or None for attention, GSC on)
    "segmamba": (("forward", "reverse", "slice"), True),
    "segmamba_m1": (("forward",), False),
    "segmamba_m2": (("forward",), True),
    "segmamba_m3": (("forward", "reverse", "slice"), False),
    "segmamba_m6": (None, True),
}
ORACLE_VARIANTS = ["segmamba", "segmamba_m1", "segmamba_m6"]  # M2 and M3 only recombine GSC and the directions
SHAPE_XYZ = (32, 32, 48)  # non-cubic: X != Z, so a transposition shows


# ---------------------------------------------------------------------------------------------------------
# The published network written out with functional ops on its own (B, C, D, H, W) arrays. Parameters are
# read by their published state-dict names; nothing of the project's model code is called.


def _conv(w, name, x, stride=1, padding=0):
    return F.conv3d(x, w[f"{name}.weight"], w.get(f"{name}.bias"), stride=stride, padding=padding)


def _inorm(x):
    return F.instance_norm(x, eps=1e-5)


def _gsc(w, p, x):
    a = F.relu(_inorm(_conv(w, f"{p}.proj", x, padding=1)))
    a = F.relu(_inorm(_conv(w, f"{p}.proj2", a, padding=1)))
    b = F.relu(_inorm(_conv(w, f"{p}.proj3", x)))
    return x + F.relu(_inorm(_conv(w, f"{p}.proj4", a + b)))


def _published_reorder(xz, direction, depth):
    """Published sequence orders: raster, flipped, or the chunk interleave with nslices = the stage depth."""
    if direction == "forward":
        return xz
    if direction == "reverse":
        return xz.flip(-1)
    return torch.stack(xz.chunk(depth, dim=-1), dim=-1).flatten(-2)


def _published_restore(y, direction, depth):
    if direction == "forward":
        return y
    if direction == "reverse":
        return y.flip(-1)
    *lead, length = y.shape
    return y.view(*lead, length // depth, depth).transpose(-1, -2).flatten(-2)


def _scan(u, delta, a, b_in, c_out, skip, chunk=16):
    """The selective scan h_t = exp(delta_t a) h_{t-1} + delta_t b_t u_t, y_t = c_t . h_t + D u_t (h_{-1} = 0),
    solved in closed form within chunks of ``chunk`` steps: h_t = exp(S_t) h_start + sum over s <= t of
    exp(S_t - S_s) delta_s b_s u_s, with S the running sum of delta a (a loop over every token is much slower).

    Shapes: u (B, Din, L); delta (B, L, Din); a (Din, N); b_in, c_out (B, L, N); skip (Din,). Returns (B, Din, L).
    """
    u = u.transpose(1, 2)  # (B, L, Din)
    h = torch.zeros(u.shape[0], u.shape[2], a.shape[1])
    lower = torch.ones(chunk, chunk, dtype=torch.bool).tril()[None, :, :, None, None]  # [t, s]: s <= t
    outputs = []
    for start in range(0, u.shape[1], chunk):
        d, uc = delta[:, start : start + chunk], u[:, start : start + chunk]  # (B, T, Din)
        bc, cc = b_in[:, start : start + chunk], c_out[:, start : start + chunk]  # (B, T, N)
        steps = d.shape[1]
        log_decay = torch.cumsum(d[..., None] * a, dim=1)  # S_t: (B, T, Din, N)
        inputs = d[..., None] * bc[:, :, None, :] * uc[..., None]  # (B, T, Din, N)
        difference = log_decay[:, :, None] - log_decay[:, None, :]  # S_t - S_s: (B, T, T, Din, N)
        weights = torch.exp(difference.masked_fill(~lower[:, :steps, :steps], -torch.inf))
        states = torch.exp(log_decay) * h[:, None] + (weights * inputs[:, None]).sum(2)  # (B, T, Din, N)
        outputs.append((states * cc[:, :, None, :]).sum(-1) + skip * uc)
        h = states[:, -1]
    return torch.cat(outputs, dim=1).transpose(1, 2)


def _ssm(w, p, suffix, seq):
    """One direction of the modified Mamba: causal depthwise conv + SiLU, selective scan, SiLU(z) gate."""
    x, z = seq.chunk(2, dim=1)  # (B, Din, L)
    length = x.shape[-1]
    conv_w, conv_b = w[f"{p}.conv1d{suffix}.weight"], w[f"{p}.conv1d{suffix}.bias"]
    u = F.silu(F.conv1d(x, conv_w, conv_b, padding=conv_w.shape[-1] - 1, groups=x.shape[1])[..., :length])
    rank = w[f"{p}.dt_proj{suffix}.weight"].shape[1]
    state = w[f"{p}.A{suffix}_log"].shape[1]
    x_dbl = u.transpose(1, 2) @ w[f"{p}.x_proj{suffix}.weight"].T  # (B, L, R + 2N)
    dt, b_in, c_out = x_dbl.split([rank, state, state], dim=-1)
    delta = F.softplus(dt @ w[f"{p}.dt_proj{suffix}.weight"].T + w[f"{p}.dt_proj{suffix}.bias"])  # (B, L, Din)
    a = -torch.exp(w[f"{p}.A{suffix}_log"])  # (Din, N)
    return _scan(u, delta, a, b_in, c_out, w[f"{p}.D{suffix}"]) * F.silu(z)


def _mamba_layer(w, p, x, directions):
    batch, channels, depth, height, width = x.shape
    tokens = F.layer_norm(x.flatten(2).transpose(1, 2), (channels,), w[f"{p}.norm.weight"], w[f"{p}.norm.bias"])
    xz = (tokens @ w[f"{p}.mamba.in_proj.weight"].T).transpose(1, 2)  # (B, 2 Din, L)
    suffix = {"forward": "", "reverse": "_b", "slice": "_s"}
    mixed = sum(
        _published_restore(_ssm(w, f"{p}.mamba", suffix[d], _published_reorder(xz, d, depth)), d, depth)
        for d in directions
    )
    out = mixed.transpose(1, 2) @ w[f"{p}.mamba.out_proj.weight"].T
    return x + out.transpose(1, 2).reshape(x.shape)


def _attention_layer(w, p, x):
    batch, channels, *spatial = x.shape
    tokens = F.layer_norm(x.flatten(2).transpose(1, 2), (channels,), w[f"{p}.norm.weight"], w[f"{p}.norm.bias"])
    heads = max(1, channels // 16)
    q, k, v = (tokens @ w[f"{p}.attn.qkv.weight"].T + w[f"{p}.attn.qkv.bias"]).chunk(3, dim=-1)
    q, k, v = (t.view(batch, -1, heads, channels // heads).transpose(1, 2) for t in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-1, -2) / (channels // heads) ** 0.5, dim=-1)
    attended = (weights @ v).transpose(1, 2).reshape(batch, -1, channels)
    out = attended @ w[f"{p}.attn.proj.weight"].T + w[f"{p}.attn.proj.bias"]
    return x + out.transpose(1, 2).reshape(x.shape)


def _res_block(w, p, x):
    """MONAI UnetResBlock: conv-IN-LReLU-conv-IN, 1x1 conv + IN on the skip when channels change, LReLU."""
    out = F.leaky_relu(_inorm(_conv(w, f"{p}.conv1.conv", x, padding=1)), 0.01)
    out = _inorm(_conv(w, f"{p}.conv2.conv", out, padding=1))
    skip = _inorm(_conv(w, f"{p}.conv3.conv", x)) if f"{p}.conv3.conv.weight" in w else x
    return F.leaky_relu(out + skip, 0.01)


def _up_block(w, p, x, skip):
    up = F.conv_transpose3d(x, w[f"{p}.transp_conv.conv.weight"], stride=2)
    return _res_block(w, f"{p}.conv_block", torch.cat([up, skip], dim=1))


def published_segmamba(w, x, directions, use_gsc):
    """The published SegMamba forward on x (B, C, D, H, W); ``directions`` None means the attention mixer."""
    stages = sorted({int(k.split(".")[2]) for k in w if k.startswith("vit.stages.")})
    skips, s = [], x
    for i in stages:
        s = (
            _conv(w, "vit.downsample_layers.0.0", s, stride=2, padding=3)
            if i == 0
            else (_conv(w, f"vit.downsample_layers.{i}.1", _inorm(s), stride=2))
        )
        if use_gsc:
            s = _gsc(w, f"vit.gscs.{i}", s)
        layers = sorted({int(k.split(".")[3]) for k in w if k.startswith(f"vit.stages.{i}.")})
        for j in layers:
            p = f"vit.stages.{i}.{j}"
            s = _attention_layer(w, p, s) if directions is None else _mamba_layer(w, p, s, directions)
        hidden = F.gelu(_conv(w, f"vit.mlps.{i}.fc1", _inorm(s)))
        skips.append(_conv(w, f"vit.mlps.{i}.fc2", hidden))
    enc1 = _res_block(w, "encoder1.layer", x)
    enc2, enc3, enc4 = (_res_block(w, f"encoder{k + 2}.layer", skips[k]) for k in range(3))
    y = _up_block(w, "decoder5", _res_block(w, "encoder5.layer", skips[3]), enc4)
    y = _up_block(w, "decoder4", y, enc3)
    y = _up_block(w, "decoder3", y, enc2)
    y = _up_block(w, "decoder2", y, enc1)
    return _conv(w, "out.conv.conv", _res_block(w, "decoder1.layer", y))


def _randomise_norms(model):
    """LayerNorm weights/biases away from 1/0, so that the layers are not near the identity."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith(("norm.weight", "norm.bias")):
                parameter.uniform_(0.5, 1.5)


def _zyx(volume):
    """(B, C, X, Y, Z) -> the published (B, C, Z, Y, X)."""
    return volume.permute(0, 1, 4, 3, 2)


@pytest.mark.parametrize("name", ORACLE_VARIANTS)
def test_model_on_xyz_equals_published_network_on_the_zyx_transpose(name):
    torch.manual_seed(0)
    model = build_model(name, 2, 3, patch_size=SHAPE_XYZ, **SMALL).eval()
    _randomise_norms(model)
    weights = {k: v.detach() for k, v in model.state_dict().items()}
    volume = torch.randn(1, 2, *SHAPE_XYZ)
    directions, use_gsc = VARIANTS[name]
    with torch.no_grad():
        ours = model(volume)
        expected = _zyx(published_segmamba(weights, _zyx(volume), directions, use_gsc))
        untransposed = published_segmamba(weights, volume, directions, use_gsc)
    assert ours.shape == (1, 3, *SHAPE_XYZ)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)
    assert (ours - untransposed).abs().max() > 1e-2  # the layout matters: the nibabel layout is another function


def _coordinate_volume(shape):
    """Channels 0, 1, 2 hold each voxel's x, y, z index."""
    grids = torch.meshgrid(*(torch.arange(n, dtype=torch.float32) for n in shape), indexing="ij")
    return torch.stack(grids)[None]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_labelled_volume_shows_the_axial_scan_order(name):
    shape = (32, 48, 64)  # X, Y, Z all different
    model = build_model(name, 3, 2, patch_size=shape, **SMALL).eval()
    with torch.no_grad():  # stem = pick the input channels at the even voxels: stage-0 tokens carry (x, y, z) / 2
        stem = model.vit.downsample_layers[0][0]
        stem.weight.zero_()
        stem.bias.zero_()
        for c in range(3):
            stem.weight[c, c, 3, 3, 3] = 0.5
    seen = {}

    def record(key):
        def hook(module, args):
            seen[key] = args[0]

        return hook

    model.vit.gscs[0].register_forward_pre_hook(record("grid"))
    model.vit.stages[0][0].register_forward_pre_hook(record("layer"))
    with torch.no_grad():
        model(_coordinate_volume(shape))
    grid = seen["grid"][0, :3]  # (3, D, H, W) as the token layers see it
    assert tuple(seen["layer"].shape[2:]) == (32, 24, 16) == tuple(s // 2 for s in shape[::-1])  # (Z, Y, X) / 2
    spatial = tuple(grid.shape[1:])
    forward = grid.flatten(1).T.round().long().tolist()  # (x, y, z) / 2 of each token in forward scan order
    inter = to_sequence(grid.flatten(1)[None], "slice", spatial)[0].T.round().long().tolist()
    # forward scan: x fastest, then y, z slowest (the published raster of a (Z, Y, X) array)
    assert (
        forward[:3] == [[0, 0, 0], [1, 0, 0], [2, 0, 0]] and forward[16] == [0, 1, 0] and forward[16 * 24] == [0, 0, 1]
    )
    # inter-slice scan: z fastest, i.e. across the axial slices of one in-plane position, then x, then y
    assert inter[:3] == [[0, 0, 0], [0, 0, 1], [0, 0, 2]] and inter[32] == [1, 0, 0] and inter[32 * 16] == [0, 1, 0]
    assert [z for _, _, z in inter[:32]] == list(range(32))


def test_sliding_window_tta_and_non_cubic_patches_through_the_transposing_model():
    torch.manual_seed(1)
    patch = (32, 48, 32)
    model = build_model("segmamba_m1", 1, 3, patch_size=patch, **SMALL).eval()  # the layout is shared by the family
    _randomise_norms(model)
    image = torch.randn(1, *patch)
    with torch.no_grad():
        flips = [(), (1,), (2,), (3,), (1, 2), (1, 3), (2, 3), (1, 2, 3)]
        by_hand = torch.stack(
            [
                torch.flip(model(torch.flip(image, axes)[None])[0], axes) if axes else model(image[None])[0]
                for axes in flips
            ]
        ).mean(0)
    torch.testing.assert_close(predict_logits(model, image, patch, tta=True), by_hand, rtol=1e-4, atol=1e-4)
    larger = predict_logits(model, torch.randn(1, 40, 48, 40), patch, overlap=0.5, sw_batch_size=2, tta=False)
    assert larger.shape == (3, 40, 48, 40) and torch.isfinite(larger).all()
