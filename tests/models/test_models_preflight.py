"""Checks of the models' configuration before any job runs: key, patch-size and constructor errors named by
config key and model, all problems in one error, and the cache that spares later dry runs the constructors."""

from __future__ import annotations

import json

import pytest

from segmamba.errors import ConfigError
from segmamba.models import preflight, registry
from segmamba.models.preflight import ModelUse, check_model_uses

PATCH = {"scales.demo.train.patch_size": [32, 32, 32]}
NARROW_SEGMAMBA = {"feat_size": [8, 16, 32, 64], "hidden_size": 64, "depths": [1, 1, 1, 1]}


def use(name, overrides=None, patch=None):
    return ModelUse(name, overrides or {}, f"scales.demo.model_overrides.{name}", patch or PATCH)


def test_unknown_override_key_names_the_config_key_model_and_valid_keys():
    with pytest.raises(ConfigError) as info:
        check_model_uses([use("segmamba", {"feat_sizes": [8, 16, 32, 64]})], construct=False)
    message = str(info.value)
    assert "scales.demo.model_overrides.segmamba" in message and "'feat_sizes'" in message
    assert "'segmamba'" in message and "feat_size" in message


def test_rejected_patch_size_names_the_patch_key_and_model():
    patch = {"scales.demo.efficiency.sizes (40)": [40, 40, 40]}
    with pytest.raises(ConfigError, match=r"config scales\.demo\.efficiency\.sizes \(40\): model 'swinunetr'"):
        check_model_uses([use("swinunetr", patch=patch)], construct=False)


def test_constructor_rejection_is_found_only_by_constructing():
    bad = use("swinunetr_v2", {"feature_size": 16, "norm_name": "batch"})  # SwinUNETR wants a multiple of 12
    check_model_uses([bad], construct=False)
    with pytest.raises(ConfigError, match=r"scales\.demo\.model_overrides\.swinunetr_v2: model 'swinunetr_v2'.*12"):
        check_model_uses([bad], construct=True)


def test_every_problem_is_listed_in_one_error():
    uses = [
        use("mednext", {"init_filter": 8}),
        use("segmamba", NARROW_SEGMAMBA, {"scales.demo.train.patch_size": [24, 32, 32]}),
        use("nnunet_resenc_m", {"n_blocks_per_stage": [1, 3]}),
        use("segresnet", {"init_filters": 8}),
    ]
    with pytest.raises(ConfigError) as info:
        check_model_uses(uses, construct=True)
    lines = str(info.value).splitlines()
    assert lines[0] == "invalid model configuration:" and len(lines) == 4
    assert "'mednext'" in lines[1] and "'segmamba'" in lines[2] and "'nnunet_resenc_m'" in lines[3]


def test_cache_spares_constructors_until_the_configuration_changes(tmp_path, monkeypatch):
    built = []
    real_build = registry.build_model

    def counting_build(name, *args, **kwargs):
        built.append(name)
        return real_build(name, *args, **kwargs)

    monkeypatch.setattr(registry, "build_model", counting_build)
    cache = tmp_path / ".snakemake" / "segmamba" / "model-checks.json"
    uses = [use("segresnet", {"init_filters": 8}), use("uxnet")]  # uxnet has no overrides: never constructed
    check_model_uses(uses, cache=cache)
    assert built == ["segresnet"] and len(json.loads(cache.read_text())["passed"]) == 1
    check_model_uses(uses, cache=cache)
    assert built == ["segresnet"]  # remembered
    check_model_uses([use("segresnet", {"init_filters": 16})], cache=cache)
    assert built == ["segresnet", "segresnet"]  # another value: constructed again
    monkeypatch.setattr(preflight, "_code_fingerprint", lambda: "other code")
    check_model_uses(uses, cache=cache)
    assert built == ["segresnet"] * 3  # the code changed: the cache no longer counts
    cache.write_text("{not json")
    check_model_uses(uses, cache=cache)
    assert built == ["segresnet"] * 4  # an unreadable cache is ignored and rewritten
    assert json.loads(cache.read_text())["code"]


def test_failed_constructor_checks_are_not_cached(tmp_path):
    cache = tmp_path / "model-checks.json"
    with pytest.raises(ConfigError):
        check_model_uses([use("swinunetr", {"feature_size": 16, "norm_name": "batch"})], cache=cache)
    assert not cache.exists()
