"""One source per setting: the config schema's scale defaults are the settings dataclasses' defaults, every key
of a scale block is a field of its step's dataclass, and an omitted key takes that default in the workflow."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from workflow_helpers import REPO, copy_workflow, run_snakemake

from segmamba.data.settings import PreprocessSettings, SynthSettings
from segmamba.efficiency.settings import EfficiencySettings
from segmamba.predict.settings import PredictSettings
from segmamba.settings import settings_defaults
from segmamba.train.settings import TrainSettings

#: scale block -> (its step's settings dataclass, keys of the block that are the workflow's, not the step's).
BLOCKS = {
    "synthetic": (SynthSettings, ()),
    "preprocess": (PreprocessSettings, ()),
    "train": (TrainSettings, ()),
    "predict": (PredictSettings, ()),
    "efficiency": (EfficiencySettings, ("sizes",)),
}


def schema_block(block: str) -> dict:
    """The schema's properties of ``scales.<scale>.<block>``."""
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    return schema["$defs"]["scale"]["properties"][block]["properties"]


def as_json(value):
    """A dataclass default as the schema writes it (tuples are lists)."""
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_schema_defaults_are_the_dataclass_defaults(block):
    settings_class, workflow_keys = BLOCKS[block]
    defaults = settings_defaults(settings_class)
    properties = schema_block(block)
    for key, spec in properties.items():
        if key in workflow_keys:
            continue
        assert key in defaults, f"scales.*.{block}.{key} is no field of {settings_class.__name__}"
        assert "default" in spec, f"scales.*.{block}.{key} has no default"
        assert spec["default"] == as_json(defaults[key]), f"scales.*.{block}.{key}"


@pytest.mark.parametrize("scale", ["demo", "paper"])
def test_every_shipped_scale_key_is_a_setting_of_its_step(scale):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for block, (settings_class, workflow_keys) in BLOCKS.items():
        unknown = set(config["scales"][scale][block]) - set(settings_defaults(settings_class)) - set(workflow_keys)
        assert not unknown, f"scales.{scale}.{block}: {unknown}"


def test_an_omitted_scale_key_takes_the_dataclass_default(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    for key in ("seed", "val_every", "num_workers"):
        del config["scales"]["demo"]["train"][key]
    del config["scales"]["demo"]["efficiency"]["repeats"]
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(workdir, "-n", "-p", "train_only", "efficiency_only")
    assert result.returncode == 0, result.stderr[-3000:]
    train = re.search(r"segmamba train .*--settings '(\{[^']*\})'", result.stdout)
    settings = json.loads(train.group(1))
    assert (settings["seed"], settings["val_every"], settings["num_workers"]) == (0, 10, 2)
    assert settings["epochs"] == config["scales"]["demo"]["train"]["epochs"]  # the scale still overrides
    efficiency = re.search(r"segmamba efficiency .*--settings '(\{[^']*\})'", result.stdout)
    assert json.loads(efficiency.group(1)) == {"repeats": 5}
