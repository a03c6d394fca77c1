"""``--settings`` values are checked against the settings dataclass's field types, naming the key."""

from __future__ import annotations

import pytest

from segmamba.cli import main
from segmamba.data.settings import PreprocessSettings
from segmamba.errors import ConfigError
from segmamba.settings import normalise_settings
from segmamba.train.settings import TrainSettings


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"epochs": "8"}, "setting 'epochs' must be an integer, got '8'"),
        ({"epochs": True}, "setting 'epochs' must be an integer, got True"),
        ({"amp": "false"}, "setting 'amp' must be true or false, got 'false'"),
        ({"no-amp": "yes"}, "setting 'no-amp' must be true or false, got 'yes'"),
        ({"augment": "no"}, "setting 'augment' must be true or false, got 'no'"),
        ({"lr": "0.01"}, "setting 'lr' must be a number, got '0.01'"),
        ({"patch_size": [16, "16", 16]}, "setting 'patch_size' must be a list of ints, got \\[16, '16', 16\\]"),
    ],
)
def test_wrongly_typed_training_settings_name_the_key(block, message):
    with pytest.raises(ConfigError, match=rf"^training settings x: {message}$"):
        normalise_settings(block, TrainSettings, "training settings x")


def test_well_typed_values_pass_unchanged():
    block = {"epochs": 8, "lr": 1, "amp": False, "no-augment": True, "patch_size": [16, 16, 16]}
    values = normalise_settings(block, TrainSettings, "s")
    assert values == {"epochs": 8, "lr": 1, "amp": False, "augment": False, "patch_size": [16, 16, 16]}
    assert normalise_settings({"patch_size": 32, "max_val_cases": None}, TrainSettings, "s")["patch_size"] == 32


def test_the_cli_reports_a_wrongly_typed_setting_in_one_line(tmp_path, capsys):
    args = ["preprocess", "--dataset", "nnunet", "--root", str(tmp_path), "--split", "s.json", "--out", "o"]
    assert main([*args, "--settings", '{"workers": "2"}']) == 2
    assert capsys.readouterr().err.startswith('segmamba preprocess: error: --settings {"workers": "2"}: setting')
    assert PreprocessSettings().workers == 1
