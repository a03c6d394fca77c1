"""Size rules of the package: no module over 400 lines unless its docstring says why, docstrings on every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "segmamba"
MAX_LINES = 400
#: A module may run longer than MAX_LINES (up to HARD_LIMIT) when one line of its docstring starts with this
#: phrase and gives the reason (e.g. one feature that splitting would spread across several files).
EXCEPTION_MARK = "Longer than 400 lines:"
HARD_LIMIT = 600
MODULES = sorted(PACKAGE.rglob("*.py"))


def size_reason(docstring: str | None) -> str | None:
    """The reason a module's docstring gives for its length, or None."""
    for line in (docstring or "").splitlines():
        if line.strip().startswith(EXCEPTION_MARK):
            return line.strip()[len(EXCEPTION_MARK) :].strip() or None
    return None


def test_size_reason_needs_the_mark_and_a_reason():
    assert size_reason("Kernels.\n\nLonger than 400 lines: numba caches per file.") == "numba caches per file."
    assert size_reason("Kernels.\n\nLonger than 400 lines:") is None
    assert size_reason("Kernels. It is long because it is.") is None
    assert size_reason(None) is None


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_is_small_and_says_what_it_holds(path):
    name = str(path.relative_to(PACKAGE))
    lines = len(path.read_text().splitlines())
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert lines <= HARD_LIMIT, f"{name}: {lines} lines"
    if lines > MAX_LINES:
        assert size_reason(docstring), f"{name}: {lines} lines and no '{EXCEPTION_MARK} <reason>' line in its docstring"
    if path.name != "__main__.py":
        assert docstring, f"{name} has no module docstring"
