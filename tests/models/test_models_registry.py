"""Model registry: names, override validation, input-size rules and the ``segmamba models`` command."""

from __future__ import annotations

import json

import pytest

from segmamba.cli import main
from segmamba.errors import ConfigError, InputError
from segmamba.models import (
    build_model,
    count_parameters,
    list_models,
    min_input_multiple,
    min_input_size,
    resolve_params,
)

CONTRACT_NAMES = [
    "segmamba",
    "segmamba_m1",
    "segmamba_m2",
    "segmamba_m3",
    "segmamba_m6",
    "segresnet",
    "uxnet",
    "mednext",
    "unetr",
    "swinunetr",
    "swinunetr_v2",
    "nnunet_resenc_m",
]


def test_registered_names_are_the_contract_names():
    assert list_models() == CONTRACT_NAMES


def test_registry_and_config_checks_import_without_torch():
    import subprocess
    import sys

    code = (
        "import sys, segmamba.models.registry as r, segmamba.models.preflight; "
        "r.check_model_config('segmamba', {'depths': [1, 1, 1, 1]}, 'k', {'p': [32, 32, 32]}, construct=False); "
        "print('torch' in sys.modules, 'monai' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_count_parameters_counts_elements():
    import torch

    assert count_parameters(torch.nn.Linear(3, 2)) == 3 * 2 + 2


def test_unknown_override_names_model_key_and_valid_keys():
    with pytest.raises(ConfigError) as info:
        build_model("segresnet", 4, 4, init_filter=16)
    message = str(info.value)
    assert "'segresnet'" in message and "'init_filter'" in message and "init_filters" in message
    assert isinstance(info.value, InputError)


def test_variant_without_gsc_rejects_gsc_gate():
    with pytest.raises(ConfigError, match="gsc_gate"):
        build_model("segmamba_m1", 4, 4, gsc_gate="multiply")


def test_invalid_values_become_config_errors():
    with pytest.raises(ConfigError, match="segmamba"):
        build_model("segmamba", 4, 4, patch_size=32, gsc_gate="concat")
    with pytest.raises(ConfigError, match="swinunetr"):
        build_model("swinunetr", 4, 4, patch_size=64, feature_size=16)  # must be divisible by 12
    with pytest.raises(ConfigError, match="unknown model 'vnet'"):
        build_model("vnet", 4, 4)


def test_overrides_reach_the_constructor_and_json_lists_become_tuples():
    params = resolve_params("segmamba", feat_size=[8, 16, 32, 64])
    assert params["feat_size"] == (8, 16, 32, 64) and params["hidden_size"] == 768
    model = build_model("segmamba", 1, 2, patch_size=32, feat_size=[8, 16, 32, 64], hidden_size=32, depths=[1, 1, 1, 1])
    assert model.vit.downsample_layers[0][0].out_channels == 8
    assert model.encoder5.layer.conv1.conv.out_channels == 32
    assert [len(stage) for stage in model.vit.stages] == [1, 1, 1, 1]
    assert build_model("segresnet", 1, 2, init_filters=16).convInit.conv.out_channels == 16


def test_input_multiples_and_minimum_sizes():
    assert min_input_multiple("segmamba") == 16
    assert min_input_multiple("uxnet") == 16
    assert min_input_multiple("segresnet") == 8
    assert min_input_multiple("segresnet", blocks_down=(1, 2, 2)) == 4
    assert min_input_multiple("mednext") == 16
    assert min_input_multiple("unetr") == 16
    assert min_input_multiple("swinunetr_v2") == 32
    assert min_input_size("segmamba") == 32  # InstanceNorm at 1/16 needs more than one voxel
    assert min_input_size("swinunetr") == 64
    assert min_input_size("swinunetr", norm_name=["group", {"num_groups": 1}]) == 32


@pytest.mark.parametrize("name, patch", [("swinunetr", 48), ("segmamba", 16), ("segresnet", 20), ("unetr", (32, 32))])
def test_unsupported_patch_sizes_are_rejected(name, patch):
    with pytest.raises(ConfigError, match="patch size"):
        build_model(name, 4, 4, patch_size=patch)


def test_unetr_img_size_follows_patch_size():
    model = build_model("unetr", 4, 4, patch_size=(32, 48, 64), hidden_size=48, mlp_dim=96, num_heads=4)
    assert tuple(model.vit.patch_embedding.position_embeddings.shape) == (1, 2 * 3 * 4, 48)


@pytest.mark.slow
def test_models_command_json_lists_every_model(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == CONTRACT_NAMES
    counts = {row["name"]: row["params"] for row in rows}
    assert counts["segmamba"] == 67_416_196 and counts["uxnet"] == 53_059_444
    assert counts["segmamba_m3"] == 67_416_196 - 10_969_920  # minus the four GSC blocks (one per stage, as published)
    assert counts["nnunet_resenc_m"] == 102_350_884


def test_models_command_bad_channels_exits_2(capsys):
    assert main(["models", "--out-channels", "0"]) == 2
    assert "out_channels" in capsys.readouterr().err
