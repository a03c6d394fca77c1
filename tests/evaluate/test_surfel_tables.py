"""The surfel tables of the NSD (DeepMind's ``surface-distance``) equal those MONAI derives from its own copy of
the marching-cubes normals, and reading them imports neither MONAI nor torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from segmamba.evaluate.surface import neighbourhood_codes, surfel_area_table

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # imports MONAI
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.7, 1.3, 2.5)])
def test_surface_areas_equal_those_of_monais_normals(spacing):
    from monai.metrics.utils import _get_neighbour_code_to_normals_table

    normals = _get_neighbour_code_to_normals_table().cpu().numpy().astype(np.float64)
    s0, s1, s2 = spacing
    expected = np.linalg.norm(normals * np.array([s1 * s2, s0 * s2, s0 * s1]), axis=-1).sum(axis=-1)
    np.testing.assert_allclose(surfel_area_table(spacing), expected, rtol=1e-6)


@pytest.mark.slow  # imports MONAI
def test_neighbourhood_codes_use_monais_encoding_kernel():
    from monai.metrics.utils import ENCODING_KERNEL

    padded = np.zeros((3, 3, 3), dtype=bool)
    for offset in np.ndindex(2, 2, 2):
        padded[:] = False
        padded[offset] = True
        assert neighbourhood_codes(padded)[0, 0, 0] == np.asarray(ENCODING_KERNEL[3])[offset]


def test_reading_the_tables_imports_neither_monai_nor_torch():
    code = (
        "import sys\nfrom segmamba.evaluate.surface import surfel_area_table\nsurfel_area_table((1.0, 1.0, 1.0))\n"
        "print(sorted(m for m in ('monai', 'torch') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "[]"
