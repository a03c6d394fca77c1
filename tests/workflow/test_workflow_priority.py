"""Scheduling order of the demo run: trainings start before any other ready job (priority 1, others 0)."""

from __future__ import annotations

import re

import pytest
from workflow_helpers import copy_workflow, run_snakemake

pytestmark = pytest.mark.slow  # a dry run of the tiny configuration


def test_only_trainings_have_a_raised_priority(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    result = run_snakemake(workdir, "--dry-run", "--configfile", ".test/config.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = re.split(r"\n(?=rule \w+:\n)", result.stdout + result.stderr)
    priorities = {}
    for job in jobs:
        rule = re.match(r"rule (\w+):", job)
        if rule:
            found = re.search(r"\n\s+priority: (\d+)", job)
            priorities.setdefault(rule.group(1), set()).add(int(found.group(1)) if found else 0)
    assert priorities["train"] == {1}
    assert {rule: p for rule, p in priorities.items() if rule != "train"} == {
        rule: {0} for rule in priorities if rule != "train"
    }
    assert {"efficiency", "predict", "evaluate"} <= set(priorities)
