"""`snakemake -n` stops on model configuration mistakes before any job is queued, naming key and model."""

from __future__ import annotations

import pytest
import yaml
from workflow_helpers import copy_workflow, run_snakemake

pytestmark = pytest.mark.slow


def test_dry_run_reports_every_model_configuration_mistake(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    mistakes = {
        "scales": {
            "demo": {
                "efficiency": {"sizes": [40]},  # SegMamba, UX-Net, SwinUNETR, M6 need multiples of 16 or 32
                "model_overrides": {
                    "mednext": {"init_filter": 8},  # typo of init_filters
                    "swinunetr_v2": {"feature_size": 16},  # SwinUNETR's constructor wants a multiple of 12
                },
            }
        }
    }
    (tmp_path / "mistakes.yaml").write_text(yaml.safe_dump(mistakes))
    result = run_snakemake(workdir, "-n", "--configfile", str(tmp_path / "mistakes.yaml"))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "config scales.demo.model_overrides.mednext: model 'mednext': unknown override 'init_filter'" in output
    assert "config scales.demo.model_overrides.swinunetr_v2: model 'swinunetr_v2': invalid configuration" in output
    assert "feature_size should be divisible by 12" in output
    for model in ("uxnet", "swinunetr", "segmamba_m6", "segmamba"):
        assert f"config scales.demo.efficiency.sizes (40): model '{model}': patch size [40, 40, 40]" in output
    assert "Job stats" not in output  # stopped while parsing, before the DAG


def test_dry_run_of_the_shipped_config_passes_and_caches_the_constructor_checks(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    first = run_snakemake(workdir, "-n", "--quiet")
    assert first.returncode == 0, first.stderr[-3000:]
    cache = workdir / ".snakemake/segmamba/model-checks.json"
    overridden = yaml.safe_load((workdir / "config.yaml").read_text())["scales"]["demo"]["model_overrides"]
    assert len(yaml.safe_load(cache.read_text())["passed"]) == len(overridden)  # each was constructed once
