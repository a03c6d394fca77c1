"""Imports run one way: every package of ``segmamba`` imports only packages below its own layer.

``LAYERS`` lists the packages and top-level modules from the bottom up; a package may import itself and any
package of a LOWER layer, never one of its own layer (peers such as ``train`` and ``predict`` stay independent)
or one above. What both sides of a pair of peers need sits below them: the checkpoint format and reading in
``models.checkpoint``, the sliding window in ``inference``. Every import statement counts, at module level or
inside a function (lazy imports, ``TYPE_CHECKING`` blocks), as do ``importlib.import_module("segmamba...")``
with a literal name and ``"segmamba.module:function"`` factory strings. A package missing from ``LAYERS``
fails too, so a new one must be placed explicitly. The Snakemake workflow sits on top of all of them: its
rules call the ``segmamba`` command line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "segmamba"

LAYERS: list[tuple[str, ...]] = [
    ("errors",),
    ("segmamba", "io_utils", "settings", "runtime", "job_timing"),  # "segmamba": the root (__version__)
    ("ops",),  # selective scan and causal conv1d kernels; dispatch chooses the backend
    ("models",),  # networks, registry, FLOPs, checkpoint format and reading
    ("data",),  # raw and preprocessed data, splits, fingerprints
    ("inference", "cost", "tracking"),  # sliding window; cost meters; MLflow session
    ("bundle",),  # a trained model as a portable folder (opened by predict)
    ("train", "predict"),  # the two stages that run a model; neither imports the other
    ("evaluate",),
    ("efficiency", "report", "status"),
    ("cli",),
    ("__main__",),
]
"""The allowed dependency order, bottom first."""

LAYER_OF = {name: level for level, names in enumerate(LAYERS) for name in names}


def unit_of(relative: str) -> str:
    """The layer unit of a module path relative to the repository (``segmamba/data/check.py`` -> ``data``)."""
    parts = Path(relative).with_suffix("").parts[1:]
    if parts in ((), ("__init__",)):
        return "segmamba"
    return parts[0]


def target_unit(module: str) -> str | None:
    """The layer unit a ``segmamba...`` module name belongs to; None for a module outside segmamba."""
    parts = module.split(".")
    if parts[0] != "segmamba":
        return None
    return parts[1] if len(parts) > 1 else "segmamba"


def imported_modules(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in ``tree``, anywhere in it; ``package`` resolves relative imports."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            if base == "segmamba":  # from segmamba import job_timing, __version__
                found += [(node.lineno, f"segmamba.{a.name}" if a.name in LAYER_OF else "segmamba") for a in node.names]
            else:
                found.append((node.lineno, base))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == (
            "import_module"
        ):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            name, colon, attribute = node.value.partition(":")
            if (
                colon
                and attribute.isidentifier()
                and name.startswith("segmamba")
                and name.replace(".", "").isidentifier()
            ):
                found.append((node.lineno, name))
    return found


def layer_violations(sources: dict[str, str]) -> list[str]:
    """One line per forbidden import in ``sources`` ({path relative to the repository: source text}).

    Each line names the importing file and line, the edge (``data -> train``) and why it is forbidden.
    """
    problems = []
    for relative, text in sorted(sources.items()):
        unit = unit_of(relative)
        if unit not in LAYER_OF:
            problems.append(f"{relative}: package {unit!r} is not placed in LAYERS (tests/test_layering.py)")
            continue
        package = ".".join(Path(relative).with_suffix("").parts)
        if not relative.endswith("__init__.py"):
            package = package.rpartition(".")[0]
        for line, module in imported_modules(ast.parse(text, relative), package.removesuffix(".__init__")):
            target = target_unit(module)
            if target is None or target == unit:
                continue
            if target not in LAYER_OF:
                problems.append(f"{relative}:{line}: imports {module}, whose package {target!r} is not in LAYERS")
            elif LAYER_OF[target] == LAYER_OF[unit]:
                problems.append(f"{relative}:{line}: {unit} -> {target} ({module}): peers of one layer")
            elif LAYER_OF[target] > LAYER_OF[unit]:
                problems.append(f"{relative}:{line}: {unit} -> {target} ({module}): back edge to a higher layer")
    return problems


def package_sources() -> dict[str, str]:
    """Every module of the package, as {path relative to the repository: source text}."""
    return {path.relative_to(ROOT).as_posix(): path.read_text() for path in sorted(PACKAGE.rglob("*.py"))}


def test_imports_follow_the_layer_order():
    problems = layer_violations(package_sources())
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_every_package_is_placed():
    units = {unit_of(path) for path in package_sources()}
    assert units <= set(LAYER_OF), sorted(units - set(LAYER_OF))


def test_the_back_edges_before_the_split_are_reported():
    # The imports of the code before the training loader and the checkpoint reading moved (issue 18).
    sources = {
        "segmamba/data/loader.py": "from segmamba.train.preemption import STOP_SIGNALS\n",
        "segmamba/train/step.py": "from segmamba.predict.sliding_window import autocast_context\n",
        "segmamba/predict/predictor.py": "def f():\n    from segmamba.train.checkpoint import load_model",
    }
    assert layer_violations(sources) == [
        "segmamba/data/loader.py:1: data -> train (segmamba.train.preemption): back edge to a higher layer",
        "segmamba/predict/predictor.py:2: predict -> train (segmamba.train.checkpoint): peers of one layer",
        "segmamba/train/step.py:1: train -> predict (segmamba.predict.sliding_window): peers of one layer",
    ]


@pytest.mark.parametrize(
    ("relative", "text"),
    [
        ("segmamba/ops/__init__.py", "from segmamba.ops.scan_reference import selective_scan_ref\n"),
        ("segmamba/train/step.py", "from segmamba.inference.sliding_window import autocast_context\n"),
        ("segmamba/report/tables.py", "def f():\n    from segmamba.evaluate.summary import x\n"),
        ("segmamba/cli.py", "from segmamba import __version__, job_timing\nimport numpy\n"),
    ],
)
def test_downward_and_internal_imports_pass(relative, text):
    assert layer_violations({relative: text}) == []


@pytest.mark.parametrize(
    ("text", "edge"),
    [
        ("from segmamba import cli\n", "errors -> cli"),
        ("import importlib\nimportlib.import_module('segmamba.report.cli')\n", "errors -> report"),
        ("FACTORY = 'segmamba.models:build_model'\n", "errors -> models"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from segmamba.data import split\n",
            "errors -> data",
        ),
    ],
)
def test_every_form_of_import_is_seen(text, edge):
    (problem,) = layer_violations({"segmamba/errors.py": text})
    assert edge in problem and "back edge" in problem


def test_a_package_missing_from_the_order_is_reported():
    (problem,) = layer_violations({"segmamba/newstage/run.py": "import os\n"})
    assert "'newstage' is not placed in LAYERS" in problem
