"""One source per setting: command-line flags generated from a settings dataclass, and ``--settings``.

A stage's settings dataclass holds every default and help text (:func:`setting`, which stores the help in the
field's metadata). :func:`add_settings_arguments` turns it into argparse flags (``iters_per_epoch`` ->
``--iters-per-epoch``; a bool that defaults to true gets ``--no-<name>``, one that defaults to false
``--<name>``) whose help shows the true default, plus ``--settings`` that takes the whole block at once (a JSON
object, or a JSON or YAML file holding one; keys are field names or flag names, ``no-amp: true`` included).
:func:`settings_values` merges ``--settings`` <- explicit flags (flags win); the dataclass supplies the rest.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import types
import typing
from typing import Any

import yaml

from segmamba.errors import ConfigError


def setting(default: Any, help: str, **metadata: Any) -> Any:
    """A settings field: its default (copied per instance for lists and dicts) and its help text."""
    metadata = {"help": help, **metadata}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def read_json_argument(value: str, option: str) -> dict[str, Any]:
    """A mapping given on the command line as JSON, or the path of a JSON or YAML file holding one.

    Raises:
        ConfigError: neither valid JSON nor a readable file, or not a mapping (naming ``option``).
    """
    source = "the argument"
    text = value
    if not value.lstrip().startswith(("{", "[")) and os.path.isfile(value):
        source = value
        try:
            with open(value) as handle:
                text = handle.read()
        except OSError as exc:
            raise ConfigError(f"{option} {value}: cannot read ({exc})") from exc
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{option}: {source} is neither a JSON object nor a file holding one ({exc})") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{option}: expected a JSON object in {source}, got {type(data).__name__}")
    return data


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _base_type(annotation: Any) -> Any:
    """The scalar type of a field annotation such as ``int | None``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def settings_fields(settings_class: type) -> list[dataclasses.Field]:
    """The fields of a settings dataclass that have a default (the settings; required paths excluded)."""
    return [
        f
        for f in dataclasses.fields(settings_class)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    ]


def field_default(f: dataclasses.Field) -> Any:
    """A field's default value (calling its default factory)."""
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def settings_defaults(settings_class: type) -> dict[str, Any]:
    """``{field: default}`` of every setting of ``settings_class``."""
    return {f.name: field_default(f) for f in settings_fields(settings_class)}


def add_settings_arguments(parser: argparse.ArgumentParser, settings_class: type) -> None:
    """Add ``--settings`` and one flag per setting of ``settings_class`` (its help and true default).

    The flags default to ``argparse.SUPPRESS``, so that :func:`settings_values` sees only explicit ones.
    """
    hints = typing.get_type_hints(settings_class)
    parser.add_argument(
        "--settings",
        metavar="JSON",
        default=argparse.SUPPRESS,
        help="the whole settings block at once: a JSON object, or a JSON/YAML file holding one, keys = the "
        "settings below (e.g. '{\"iters_per_epoch\": 50}'); flags given explicitly win",
    )
    for f in settings_fields(settings_class):
        help_text = f.metadata["help"]
        default = field_default(f)
        kind = _base_type(hints[f.name])
        common = {"dest": f.name, "default": argparse.SUPPRESS}
        if kind is bool:
            if default:
                parser.add_argument(_flag("no_" + f.name), action="store_false", help=f"{help_text}: off", **common)
            else:
                parser.add_argument(_flag(f.name), action="store_true", help=f"{help_text} (default off)", **common)
        elif typing.get_origin(kind) is tuple:
            items = typing.get_args(kind)
            shown = "none" if default is None else " ".join(str(v) for v in default)
            metavar = f.metadata.get("metavar", ("X", "Y", "Z")[: len(items)])
            parser.add_argument(
                _flag(f.name), type=items[0], nargs=len(items), metavar=metavar, help=f"{help_text} (default {shown})",
                **common,
            )  # fmt: skip
        elif kind is dict or typing.get_origin(kind) is dict:
            parser.add_argument(
                _flag(f.name), metavar="JSON", help=f"{help_text} (a JSON object; default {default})", **common
            )
        else:
            shown = "none" if default is None else default
            parser.add_argument(
                _flag(f.name),
                type=kind,
                choices=f.metadata.get("choices"),
                metavar=f.metadata.get("metavar"),
                help=f"{help_text} (default {shown})",
                **common,
            )


def normalise_settings(block: dict[str, Any], settings_class: type, source: str) -> dict[str, Any]:
    """Field values from a settings mapping whose keys are field or flag names (``no-amp: true`` = amp off).

    Raises:
        ConfigError: a key that names no field of ``settings_class``, or a value of the wrong type (``"8"`` for
            an integer, ``"false"`` for a boolean), naming ``source`` and the key.
    """
    names = {f.name for f in dataclasses.fields(settings_class)}
    hints = typing.get_type_hints(settings_class)
    values: dict[str, Any] = {}
    for key, value in block.items():
        name = str(key).strip().lstrip("-").replace("-", "_")
        if name.startswith("no_") and name[3:] in names and name not in names:
            check_setting_type(key, value, bool, source)
            values[name[3:]] = not value
        elif name in names:
            check_setting_type(key, value, hints[name], source)
            values[name] = value
        else:
            raise ConfigError(f"{source}: unknown setting {key!r} (known: {', '.join(sorted(names))})")
    return values


def _is_number(value: Any, kind: type) -> bool:
    """Whether ``value`` is an ``int`` (``kind`` int) or a real number (``kind`` float); booleans are neither."""
    return not isinstance(value, bool) and isinstance(value, int if kind is int else int | float)


def check_setting_type(key: str, value: Any, annotation: Any, source: str) -> None:
    """Raise ConfigError naming ``key`` when ``value`` does not fit the field annotation (as the config schema
    checks it): bool, int (not a bool), float (int accepted), str, dict (or its JSON text), tuple of ints (or one
    int), ``X | None``.
    """
    optional = typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(
        annotation
    )
    if value is None and optional:
        return
    kind = _base_type(annotation)
    if kind is bool:
        ok, expected = isinstance(value, bool), "true or false"
    elif kind in (int, float):
        ok, expected = _is_number(value, kind), "an integer" if kind is int else "a number"
    elif kind is str:
        ok, expected = isinstance(value, str), "a string"
    elif typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        items = value if isinstance(value, list | tuple) else [value]
        ok, expected = all(_is_number(v, item) for v in items), f"a list of {item.__name__}s"
    elif kind is dict or typing.get_origin(kind) is dict:
        ok, expected = isinstance(value, dict | str), "a mapping"  # or its JSON text, as the flag takes it
    else:
        return
    if not ok:
        raise ConfigError(
            f"{source}: setting {key!r} must be {expected}{' or null' if optional else ''}, got {value!r}"
        )


def settings_values(args: argparse.Namespace | dict[str, Any], settings_class: type) -> dict[str, Any]:
    """Field values of ``settings_class`` from parsed arguments: ``--settings`` first, explicit flags on top
    (only the values given; the dataclass supplies the rest)."""
    given = dict(vars(args) if isinstance(args, argparse.Namespace) else args)
    names = {f.name for f in dataclasses.fields(settings_class)}
    values: dict[str, Any] = {}
    if given.get("settings") is not None:
        block = read_json_argument(given["settings"], "--settings")
        values.update(normalise_settings(block, settings_class, f"--settings {given['settings'][:200]}"))
    values.update({name: value for name, value in given.items() if name in names and value is not None})
    hints = typing.get_type_hints(settings_class)
    for name, value in values.items():
        if isinstance(value, list) and typing.get_origin(_base_type(hints[name])) is tuple:
            values[name] = tuple(value)  # argparse and JSON give lists
    return values
