"""The dataset registry: derived choices (CLI, schema, workflow), definitions of nnU-Net datasets, config errors."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
import yaml

from segmamba.cli import build_parser
from segmamba.data.dataset_config import read_nnunet_dataset_json, resolve_dataset
from segmamba.data.datasets import READERS, open_dataset
from segmamba.data.registry import (
    DATASETS,
    NAME_PATTERN,
    PAPER_ABLATION_DATASET,
    PAPER_DATASETS,
    SYNTHETIC_KINDS,
    column_key,
    dataset_label,
    paper_datasets,
)
from segmamba.errors import ConfigError, InputError

REPO = Path(__file__).resolve().parents[2]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def subcommand_choices(command: str, option: str):
    """The ``choices`` of one option of one ``segmamba`` subcommand."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in subparsers.choices[command]._actions if option in a.option_strings)
    return tuple(action.choices)


@pytest.mark.parametrize("command", ["check", "split", "preprocess", "ground-truth", "evaluate", "predict"])
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
    for block, default in (("ablation", PAPER_ABLATION_DATASET), ("efficiency", "brats2023")):
        dataset = SCHEMA["properties"][block]["properties"]["dataset"]
        assert dataset["pattern"] == f"^{NAME_PATTERN}$" and dataset["default"] == default  # any configured dataset


def test_paper_tables_and_readers():
    assert paper_datasets("table2") == ["brats2023", "aiib2023"] and paper_datasets("table3") == ["crc500"]
    for definition in DATASETS.values():
        assert definition.reader in READERS and definition.layout == definition.name


def test_paper_values_are_keyed_by_the_reported_metrics():
    """Every paper value sits under a metric the dataset's table reports (else it would silently not show)."""
    for name in PAPER_DATASETS:
        definition = DATASETS[name]
        keys = [m.key for m in definition.reported_metrics()]
        assert set(definition.metric_columns()) >= {c for m in definition.reported_metrics() for c in m.columns}
        for values in (definition.paper_values, definition.ablation_paper_values or {}):
            for method, row in values.items():
                assert list(row) == keys, (name, method)  # every metric, in the table's column order
    # a few published numbers (the paper's Tables 2-4), so that a transcription slip shows
    assert DATASETS["brats2023"].paper_values["segmamba"]["dice_wt"] == 93.61
    assert DATASETS["brats2023"].paper_values["unetr"]["hd95_avg"] == 5.49
    assert DATASETS["aiib2023"].paper_values["segmamba"]["dbr"] == 61.33
    assert DATASETS["crc500"].paper_values["segmamba"] == {"dice": 48.02, "hd95": 30.89}
    assert DATASETS["crc500"].ablation_paper_values["segmamba_m1"] == {"dice": 45.34, "hd95": 43.01}
    assert PAPER_ABLATION_DATASET == "crc500"


def test_reporting_and_workflow_rules_name_no_dataset():
    """The tables, figures and rules take dataset names, labels and paper values from the registry."""
    files = [*(REPO / "segmamba/report").glob("*.py"), *(REPO / "workflow/rules").glob("*.smk")]
    for path in files:
        text = path.read_text()
        for name in DATASETS:
            assert f'"{name}"' not in text, f"{path.name} hard-codes {name}; derive it from segmamba.data.registry"


def test_display_labels():
    assert [dataset_label(name) for name in PAPER_DATASETS] == ["BraTS2023", "AIIB2023", "CRC-500"]
    assert dataset_label("my_liver") == "my_liver"  # a dataset of your own is shown under its own name


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
        ("table2", {"format": "nnunet", "root": "."}, "names a results folder or a paper table"),
        ("figures", {"format": "nnunet", "root": "."}, "names a results folder or a paper table"),
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
    assert own_brats.paper_values is None and own_brats.ablation_paper_values is None  # no paper numbers
    own_crc = resolve_dataset("mycrc", {"format": "crc500", "root": str(tmp_path)})
    assert own_crc.paper_values is own_crc.ablation_paper_values is own_crc.paper_note is None
    assert own_brats.metric_columns() == DATASETS["brats2023"].metric_columns()


def test_column_key():
    assert column_key("Left Kidney") == "left_kidney" and column_key("TC") == "tc" and column_key("--") == ""
