"""One source per setting: command-line flags generated from a settings dataclass, and ``--settings JSON``.

A stage's settings dataclass holds every default and help text (``field(metadata={"help": ...})``).
:func:`add_settings_arguments` turns it into argparse flags (``--iters-per-epoch``; a bool that defaults to
true gets ``--no-<name>``, one that defaults to false ``--<name>``), plus ``--settings JSON`` that takes the
whole block at once (a JSON object or a file holding one, keys = field names). :func:`resolve_settings`
merges defaults <- ``--settings`` <- explicit flags (flags win) into the dataclass.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import types
import typing
from typing import Any

from segmamba.errors import ConfigError


def read_json_argument(value: str, option: str) -> dict[str, Any]:
    """A JSON object given on the command line, or the path of a file holding one.

    Raises:
        ConfigError: neither valid JSON nor a readable file, or not an object (naming ``option``).
    """
    text = value
    if not value.lstrip().startswith("{") and os.path.isfile(value):
        try:
            with open(value) as handle:
                text = handle.read()
        except OSError as exc:
            raise ConfigError(f"{option} {value}: cannot read ({exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{option}: not a JSON object or a file holding one ({exc}): {value[:200]}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{option}: expected a JSON object, got {type(data).__name__}")
    return data


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """(scalar type, whether None is allowed) of a field annotation such as ``int | None``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


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


def add_settings_arguments(parser: argparse.ArgumentParser, settings_class: type) -> None:
    """Add ``--settings JSON`` and one flag per field of ``settings_class`` (its help and true default).

    The flags default to ``argparse.SUPPRESS``, so that :func:`resolve_settings` sees only explicit ones.
    """
    hints = typing.get_type_hints(settings_class)
    parser.add_argument(
        "--settings",
        metavar="JSON",
        default=argparse.SUPPRESS,
        help="the whole settings block: a JSON object (or a file holding one) of the settings below, by field "
        "name (e.g. '{\"iters_per_epoch\": 50}'); flags given explicitly win",
    )
    for f in settings_fields(settings_class):
        help_text = f.metadata.get("help", "")
        default = field_default(f)
        kind, optional = _base_type(hints[f.name])
        common = {"dest": f.name, "default": argparse.SUPPRESS}
        if kind is bool:
            if default:
                parser.add_argument(_flag("no_" + f.name), action="store_false", help=f"{help_text} off", **common)
            else:
                parser.add_argument(_flag(f.name), action="store_true", help=f"{help_text} (default off)", **common)
            continue
        shown = "none" if default is None else default
        if typing.get_origin(kind) is tuple:
            items = typing.get_args(kind)
            shown = " ".join(str(v) for v in default)
            parser.add_argument(
                _flag(f.name),
                type=items[0],
                nargs=len(items),
                metavar=f.metadata.get("metavar", ("X", "Y", "Z")[: len(items)]),
                help=f"{help_text} (default {shown})",
                **common,
            )
        elif kind is dict or typing.get_origin(kind) is dict:
            parser.add_argument(
                _flag(f.name), type=str, metavar="JSON", help=f"{help_text} (JSON object; default {shown})", **common
            )
        else:
            parser.add_argument(
                _flag(f.name),
                type=kind,
                choices=f.metadata.get("choices"),
                metavar=f.metadata.get("metavar"),
                help=f"{help_text} (default {shown})",
                **common,
            )


def settings_values(args: argparse.Namespace, settings_class: type, option: str = "--settings") -> dict[str, Any]:
    """Field values of ``settings_class`` from parsed arguments: ``--settings`` first, explicit flags on top.

    Raises:
        ConfigError: a ``--settings`` key that is no field of ``settings_class``.
    """
    names = {f.name for f in dataclasses.fields(settings_class)}
    given = vars(args)
    values: dict[str, Any] = {}
    if given.get("settings") is not None:
        block = read_json_argument(given["settings"], option)
        unknown = sorted(set(block) - names)
        if unknown:
            raise ConfigError(f"{option}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(names))})")
        values.update(block)
    values.update({name: value for name, value in given.items() if name in names})
    return values
