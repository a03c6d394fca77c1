"""DeepMind's surfel lookup tables as MONAI ships them, read from MONAI's source file without importing MONAI.

The normalised surface Dice needs two constant tables of Nikolov et al.'s ``surface-distance`` code: the
2 x 2 x 2 encoding kernel (the bit weight of each voxel of a neighbourhood) and, for each of the 256
neighbourhood codes, the normals of its marching-cubes triangles (their lengths are the triangles' areas).
MONAI 1.6 holds both as literals in ``monai/metrics/utils.py`` (``ENCODING_KERNEL`` and the list returned by
``_get_neighbour_code_to_normals_table``). ``import monai.metrics.utils`` runs ``monai/__init__``, which imports
every MONAI subpackage, torch, pandas, matplotlib and (when installed) mlflow: 4-7 s of a 2-core machine in
every evaluation job for two small constant tables. This module therefore parses that file and evaluates the
two literals (:func:`ast.literal_eval`: constants only, nothing of MONAI runs). A MONAI whose file no longer
has that form is imported instead (slow, same tables). tests/evaluate/test_surfel_tables.py checks the parsed
tables against the imported ones.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
from pathlib import Path

import numpy as np

#: Where the tables are defined, relative to MONAI's package folder.
SOURCE = Path("metrics", "utils.py")
KERNEL_NAME = "ENCODING_KERNEL"
NORMALS_FUNCTION = "_get_neighbour_code_to_normals_table"
NORMALS_SHAPE = (256, 4, 3)


def monai_source_file() -> Path:
    """MONAI's ``metrics/utils.py``, located without importing MONAI."""
    spec = importlib.util.find_spec("monai")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("MONAI is not installed (the surface tables of the NSD come from it)")
    return Path(next(iter(spec.submodule_search_locations))) / SOURCE


class _InlineNames(ast.NodeTransformer):
    """Replace each name by a copy of the literal assigned to it earlier in the same function."""

    def __init__(self, names: dict[str, ast.expr]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.expr:  # noqa: N802 (ast.NodeTransformer's method name)
        return copy.deepcopy(self.names[node.id])


def _normals_literal(function: ast.FunctionDef) -> list:
    """The value of the function's ``return`` of a name, its literals' names (``zeros``) inlined."""
    names: dict[str, ast.expr] = {}
    for statement in function.body:
        if isinstance(statement, ast.Assign) and [type(t) for t in statement.targets] == [ast.Name]:
            names[statement.targets[0].id] = _InlineNames(names).visit(statement.value)
        elif isinstance(statement, ast.Return):
            table = statement.value
            if isinstance(table, ast.Call):  # ``return torch.as_tensor(ret, device=device)``
                table = table.args[0]
            return ast.literal_eval(_InlineNames(names).visit(copy.deepcopy(table)))
    raise ValueError(f"{NORMALS_FUNCTION} returns nothing")


def parse_tables(source: str) -> tuple[np.ndarray, np.ndarray]:
    """The encoding kernel (2 x 2 x 2) and the normals table (256 x 4 x 3, float64) from MONAI's source text.

    Raises:
        ValueError: the source does not define them as literals of the expected shapes.
    """
    kernel = normals = None
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == KERNEL_NAME for t in node.targets):
            kernel = np.asarray(ast.literal_eval(node.value)[3])
        elif isinstance(node, ast.FunctionDef) and node.name == NORMALS_FUNCTION:
            normals = np.asarray(_normals_literal(node), dtype=np.float64)
    if kernel is None or normals is None or kernel.shape != (2, 2, 2) or normals.shape != NORMALS_SHAPE:
        raise ValueError(f"no {KERNEL_NAME} (2 x 2 x 2) and {NORMALS_FUNCTION} ({NORMALS_SHAPE}) literals")
    return kernel, normals


def imported_tables() -> tuple[np.ndarray, np.ndarray]:
    """The same tables from an imported MONAI (seconds: imports MONAI and torch)."""
    from monai.metrics.utils import ENCODING_KERNEL, _get_neighbour_code_to_normals_table

    return np.asarray(ENCODING_KERNEL[3]), _get_neighbour_code_to_normals_table().cpu().numpy().astype(np.float64)


def surfel_tables() -> tuple[np.ndarray, np.ndarray]:
    """MONAI's encoding kernel and neighbour-code-to-normals table: parsed from its source, imported when the
    source does not hold them as literals."""
    try:
        return parse_tables(monai_source_file().read_text(encoding="utf-8"))
    except (OSError, ValueError, SyntaxError, KeyError, IndexError, TypeError):
        return imported_tables()
