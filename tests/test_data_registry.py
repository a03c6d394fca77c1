"""The dataset registry: derived choices (CLI, schema, workflow), definitions of nnU-Net datasets, config errors."""

from __future__ import annotations

import argparse
import json
import re

import pytest
import yaml
from test_workflow_support import REPO

from segmamba.cli import build_parser
from segmamba.data.datasets import READERS, open_dataset
from segmamba.data.registry import (
    DATASETS,
    PAPER_DATASETS,
    SYNTHETIC_KINDS,
    column_key,
    paper_datasets,
    read_nnunet_dataset_json,
    resolve_dataset,
)
from segmamba.errors import ConfigError, InputError

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def subcommand_choices(command: str, option: str):
    """The ``choices`` of one option of one ``segmamba`` subcommand."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in subparsers.choices[command]._actions if option in a.option_strings)
    return tuple(action.choices)


@pytest.mark.parametrize("command", ["check", "split", "preprocess", "labels", "evaluate", "predict"])
def test_dataset_choices_of_every_command_are_the_registry(command):
    assert subcommand_choices(command, "--dataset") == tuple(DATASETS) == ("brats2023", "aiib2023", "crc500", "nnunet")


def test_synth_kinds_are_those_of_the_registered_datasets():
    assert subcommand_choices("synth", "--kind") == SYNTHETIC_KINDS == ("brats", "aiib", "crc")
    assert {DATASETS[d].synthetic_kind for d in PAPER_DATASETS} == set(SYNTHETIC_KINDS)


def test_schema_lists_the_registry_names():
    datasets = SCHEMA["properties"]["datasets"]
    assert tuple(datasets["properties"]) == PAPER_DATASETS
    for name, entry in datasets["properties"].items():
        assert entry["description"] == DATASETS[name].description
    (pattern,) = datasets["patternProperties"]
    excluded = re.fullmatch(r"\^\(\?!\((.*)\)\$\)\[a-z\]\[a-z0-9_\]\*\$", pattern).group(1)
    assert tuple(excluded.split("|")) == PAPER_DATASETS
    assert SCHEMA["$defs"]["own_dataset"]["properties"]["format"]["enum"] == list(DATASETS)
    assert SCHEMA["$defs"]["dataset"]["properties"]["format"]["enum"] == [*DATASETS, None]
    assert SCHEMA["properties"]["ablation"]["properties"]["dataset"]["enum"] == list(PAPER_DATASETS)


def test_workflow_code_names_no_dataset():
    common = (REPO / "workflow/rules/common.smk").read_text()
    for name in DATASETS:
        assert f'"{name}"' not in common, f"common.smk hard-codes {name}; derive it from segmamba.data.registry"


def test_paper_tables_and_readers():
    assert paper_datasets("table2") == ["brats2023", "aiib2023"] and paper_datasets("table3") == ["crc500"]
    for definition in DATASETS.values():
        assert definition.reader in READERS and definition.layout == definition.name


def test_reported_metrics_agree_with_the_tables_until_they_read_the_registry():
    from segmamba.reporting.tables import DATASET_LABELS, DATASET_METRICS

    for name in PAPER_DATASETS:
        ours = [(m.key, m.label, m.columns, m.scale) for m in DATASETS[name].reported_metrics()]
        assert ours == [(m.key, m.label, m.columns, m.scale) for m in DATASET_METRICS[name]]
        assert DATASETS[name].display_label == DATASET_LABELS[name]
        assert set(DATASETS[name].metric_columns()) >= {c for m in DATASETS[name].reported_metrics() for c in m.columns}


# ----------------------------------------------------------------------------------- nnU-Net datasets


def write_dataset_json(root, labels, channels=("T2", "ADC")):
    root.mkdir(parents=True, exist_ok=True)
    meta = {"channel_names": {str(i): c for i, c in enumerate(channels)}, "labels": labels, "file_ending": ".nii.gz"}
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


def test_nnunet_definition_columns_and_reported_metrics(tmp_path):
    root = write_dataset_json(tmp_path / "d", {"background": 0, "Left Kidney": 1, "tumour": 2})
    definition = resolve_dataset("kidneys", {"activate": True, "format": "nnunet", "root": str(root)})
    assert definition.name == "kidneys" and definition.layout == "nnunet" and definition.display_label == "kidneys"
    assert definition.info.channel_names == ("T2", "ADC") and definition.synthetic_kind is None
    assert definition.paper_table is None
    assert definition.metric_columns() == (
        "dice_left_kidney",
        "dice_tumour",
        "dice_mean",
        "hd95_left_kidney",
        "hd95_tumour",
        "hd95_mean",
    )
    reported = definition.reported_metrics()
    assert [m.key for m in reported] == [
        "dice_left_kidney",
        "hd95_left_kidney",
        "dice_tumour",
        "hd95_tumour",
        "dice_mean",
        "hd95_mean",
    ]
    assert reported[0].label == "Left Kidney Dice (%)" and reported[0].scale == 100.0
    assert reported[-1].label == "Mean HD95 (mm)" and reported[-1].scale == 1.0
    with_regions = resolve_dataset(
        "kidneys", {"format": "nnunet", "root": str(root), "regions": {"all": [2, 1]}, "target_spacing": [1, 1, 2]}
    )
    assert with_regions.info.regions == {"all": [1, 2]} and with_regions.info.region_based
    assert with_regions.metric_columns() == ("dice_all", "dice_mean", "hd95_all", "hd95_mean")
    assert with_regions.target_spacing == (1.0, 1.0, 2.0)
    assert open_dataset("kidneys", root).info.name == "kidneys"  # any other name opens as nnU-Net


@pytest.mark.parametrize(
    ("labels", "regions", "message"),
    [
        ({"background": 0, "Mean": 1}, None, "'Mean' gives the column suffix 'mean'"),
        ({"background": 0, "left-kidney": 1, "Left Kidney": 2}, None, "'Left Kidney' clashes with 'left-kidney'"),
        ({"background": 0, "a": 1}, {"both": [1, 2]}, r"region 'both' names label\(s\) \[2\]"),
        ({"background": 0, "a": 1}, {"bg": [0]}, r"region 'bg' names label\(s\) \[0\]"),
    ],
)
def test_bad_label_names_and_regions_name_the_file(tmp_path, labels, regions, message):
    root = write_dataset_json(tmp_path / "d", labels)
    with pytest.raises(InputError, match=message) as info:
        read_nnunet_dataset_json(root, regions)
    assert str(root / "dataset.json") in str(info.value)


@pytest.mark.parametrize(
    ("name", "entry", "message"),
    [
        ("brats2023", {"format": "nnunet"}, "the paper's datasets keep their layout"),
        ("mine", {"root": "."}, "needs a format"),
        ("mine", {"format": "nnunet"}, "needs a root"),
        ("mine", {"format": "crc500", "root": ".", "regions": {"a": [1]}}, "regions apply to nnunet datasets only"),
        ("Mine", {"format": "nnunet", "root": "."}, "must match"),
    ],
)
def test_resolve_rejects_bad_entries_naming_the_key(name, entry, message):
    with pytest.raises(ConfigError, match=rf"config datasets.{name}: .*{message}"):
        resolve_dataset(name, entry)


def test_resolve_names_a_missing_root_or_dataset_json(tmp_path):
    with pytest.raises(ConfigError, match=rf"datasets.mine: root {tmp_path / 'nowhere'} does not exist"):
        resolve_dataset("mine", {"format": "nnunet", "root": str(tmp_path / "nowhere")})
    with pytest.raises(ConfigError, match=rf"datasets.mine: dataset {tmp_path}: file {tmp_path / 'dataset.json'}"):
        resolve_dataset("mine", {"format": "nnunet", "root": str(tmp_path)})
    own_brats = resolve_dataset("mybrats", {"format": "brats2023", "root": str(tmp_path)})
    assert own_brats.layout == "brats2023" and own_brats.synthetic_kind is None and own_brats.paper_table is None
    assert own_brats.metric_columns() == DATASETS["brats2023"].metric_columns()


def test_column_key():
    assert column_key("Left Kidney") == "left_kidney" and column_key("TC") == "tc" and column_key("--") == ""
