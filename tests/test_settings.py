"""Flags generated from a settings dataclass, ``--settings`` as JSON text or a JSON/YAML file, flags winning."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pytest

from segmamba.errors import ConfigError
from segmamba.settings import add_settings_arguments, setting, settings_defaults, settings_values


@dataclass
class Example:
    """A settings dataclass with every kind of field the stages use."""

    path: str
    epochs: int = setting(10, "number of epochs")
    lr: float = setting(0.01, "learning rate")
    amp: bool = setting(True, "mixed precision")
    overwrite: bool = setting(False, "redo finished work")
    patch: tuple[int, int, int] = setting((8, 8, 8), "patch edge lengths")
    limit: int | None = setting(None, "at most N")
    loss: str = setting("ce", "loss", choices=("ce", "dice_ce"))
    extra: dict = setting({}, "keywords")


def parse(*argv: str) -> dict:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, Example)
    return settings_values(parser.parse_args(list(argv)), Example)


def test_flags_are_generated_with_their_true_default_in_the_help():
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, Example)
    text = parser.format_help()
    for flag in (
        "--epochs",
        "--lr",
        "--no-amp",
        "--overwrite",
        "--patch",
        "--limit",
        "--loss",
        "--extra",
        "--settings",
    ):
        assert flag in text
    assert "--path" not in text  # a field without a default is a job argument, not a setting
    assert "(default 10)" in text and "(default 8 8 8)" in text and "(default none)" in text


def test_only_explicit_values_are_returned_and_the_dataclass_supplies_the_rest():
    assert parse() == {}
    values = parse("--epochs", "3", "--no-amp", "--patch", "4", "4", "2", "--overwrite")
    assert values == {"epochs": 3, "amp": False, "patch": (4, 4, 2), "overwrite": True}
    assert Example(path="p", **values).lr == 0.01
    assert settings_defaults(Example)["extra"] == {} and "path" not in settings_defaults(Example)


def test_settings_block_as_json_or_file_and_explicit_flags_win(tmp_path):
    assert parse("--settings", '{"epochs": 5, "lr": 0.5}', "--lr", "0.1") == {"epochs": 5, "lr": 0.1}
    path = tmp_path / "s.yaml"
    path.write_text("iters: 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'iters'"):
        parse("--settings", str(path))
    path.write_text("epochs: 7\nno-amp: true\nlimit: null\n")
    assert parse("--settings", str(path)) == {"epochs": 7, "amp": False, "limit": None}


@pytest.mark.parametrize("bad", ["[1, 2]", "{not json", "'text'"])
def test_a_settings_argument_that_is_no_mapping_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="--settings"):
        parse("--settings", bad)


def test_invalid_choice_is_rejected_by_the_parser():
    with pytest.raises(SystemExit):
        parse("--loss", "dice")
