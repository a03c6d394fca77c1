"""The surfel tables read from MONAI's source equal MONAI's imported tables, and their kernel and surface areas
DeepMind's ``surface-distance`` lookup tables; reading them imports neither MONAI nor torch; a source without
the literals is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import surface_distance.lookup_tables as deepmind

from segmamba.evaluate import surfel_tables
from segmamba.evaluate.surface import surfel_area_table

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def parsed():
    return surfel_tables.parse_tables(surfel_tables.monai_source_file().read_text(encoding="utf-8"))


@pytest.mark.slow  # imports MONAI
def test_parsed_tables_equal_monais_imported_tables(parsed):
    kernel, normals = surfel_tables.imported_tables()
    np.testing.assert_array_equal(parsed[0], kernel)
    np.testing.assert_array_equal(parsed[1], normals)


def test_parsed_kernel_equals_deepminds(parsed):
    np.testing.assert_array_equal(parsed[0], deepmind.ENCODE_NEIGHBOURHOOD_3D_KERNEL)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.7, 1.3, 2.5)])
def test_surface_areas_equal_deepminds(spacing):
    expected = deepmind.create_table_neighbour_code_to_surface_area(spacing)
    np.testing.assert_allclose(surfel_area_table(spacing), expected, rtol=1e-12)


def test_reading_the_tables_imports_neither_monai_nor_torch():
    code = (
        "import sys\nfrom segmamba.evaluate.surface import surfel_area_table\nsurfel_area_table((1.0, 1.0, 1.0))\n"
        "print(sorted(m for m in ('monai', 'torch') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "[]"


def test_a_source_without_the_literals_is_refused():
    with pytest.raises(ValueError, match="ENCODING_KERNEL"):
        surfel_tables.parse_tables("ENCODING_KERNEL = {3: [[1, 2], [3, 4]]}\n")


def test_names_inside_the_normals_function_are_inlined():
    rows = ", ".join(["[z, z, z, z]"] * 256)
    source = (
        "ENCODING_KERNEL = {2: [[8, 4], [2, 1]], 3: [[[128, 64], [32, 16]], [[8, 4], [2, 1]]]}\n"
        "def _get_neighbour_code_to_normals_table(device=None):\n"
        "    z = [0.5, -0.0, 0.25]\n"
        f"    ret = [{rows}]\n"
        "    return torch.as_tensor(ret, device=device)\n"
    )
    kernel, normals = surfel_tables.parse_tables(source)
    assert kernel[0, 0, 0] == 128 and kernel[1, 1, 1] == 1
    assert normals.shape == (256, 4, 3) and normals[255, 3].tolist() == [0.5, 0.0, 0.25]
