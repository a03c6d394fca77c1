"""Each subcommand imports only the libraries its work uses (start-up is seconds per job otherwise).

For every subcommand, the modules its handler imports are imported in a fresh interpreter and the heavy
libraries it must not load are checked. ``import monai`` (any MONAI submodule) loads every MONAI subpackage,
pandas, matplotlib and mlflow with it, so only the steps that need torch may load MONAI.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

TORCH = ("torch", "monai", "numba")
PLOTS_AND_TABLES = ("pandas", "matplotlib")

#: subcommand -> (modules its handler imports, libraries they must not load)
HANDLERS = {
    "synth": (["segmamba.data.synth"], TORCH + PLOTS_AND_TABLES),
    "check": (["segmamba.data.check", "segmamba.data.datasets"], TORCH + PLOTS_AND_TABLES),
    "split": (["segmamba.data.split", "segmamba.data.datasets"], TORCH + PLOTS_AND_TABLES + ("scipy.ndimage",)),
    "preprocess": (["segmamba.data.preprocess", "segmamba.data.dataset_config"], TORCH + PLOTS_AND_TABLES),
    "ground-truth": (["segmamba.evaluate.ground_truth"], TORCH + PLOTS_AND_TABLES),
    "evaluate": (["segmamba.evaluate.evaluate"], (*TORCH, *PLOTS_AND_TABLES, "scipy.stats")),
    "report": (["segmamba.report.build"], TORCH),
    "status": (["segmamba.status.report"], TORCH),
    "models": (["segmamba.models.registry"], TORCH),
    "cli": (["segmamba.cli", "segmamba.runtime", "segmamba.job_timing"], (*TORCH, *PLOTS_AND_TABLES, "numpy")),
}


def loaded(modules: list[str], candidates: tuple[str, ...]) -> list[str]:
    """Which of ``candidates`` are in sys.modules after importing ``modules`` in a fresh interpreter."""
    code = (
        f"import sys\nfor m in {modules!r}:\n    __import__(m)\nprint([m for m in {candidates!r} if m in sys.modules])"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return ast.literal_eval(done.stdout)


@pytest.mark.parametrize("command", sorted(HANDLERS))
def test_a_subcommand_imports_no_library_it_does_not_use(command):
    modules, forbidden = HANDLERS[command]
    assert loaded(modules, forbidden) == [], f"segmamba {command}"


@pytest.mark.slow  # imports torch and MONAI
def test_building_one_model_family_imports_only_its_own_module():
    others = ("segmamba.models.nets.uxnet", "segmamba.models.nets.monai_baselines", "segmamba.models.nets.resenc_unet")
    assert loaded(["segmamba.models.nets.segmamba"], others) == []
