"""Reading the report's optional result files (training and evaluation summaries) as JSON objects."""

from __future__ import annotations

import json
import os

from segmamba.errors import InputError


def read_optional_json(path: str | os.PathLike | None) -> dict | None:
    """A JSON file's content, or None when ``path`` is None or the file does not exist.

    Raises:
        InputError: the file exists but is not a JSON object.
    """
    if path is None or not os.path.exists(path):
        return None
    try:
        content = json.loads(open(path).read())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read JSON ({exc})") from exc
    if not isinstance(content, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(content).__name__}")
    return content
