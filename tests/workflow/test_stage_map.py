"""The stage map (docs/stage-map.md) agrees with the rule files, the CLI's subcommands and the package tree."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from segmamba.cli import SUBCOMMANDS, build_parser
from segmamba.report.build import ARTEFACTS

REPO = Path(__file__).resolve().parents[2]
RULE_FILES = REPO / "workflow" / "rules"
#: Rule files that define no rules (helpers: config checks, targets and resources; paths; step arguments; report
#: inputs).
HELPER_RULE_FILES = {"common.smk", "paths.smk", "arguments.smk", "report_inputs.smk"}


def cell_items(cell: str) -> list[str]:
    """The back-quoted items of a table cell."""
    return re.findall(r"`([^`]+)`", cell)


def stage_map() -> dict[str, dict[str, list[str]]]:
    """{stage: {column: items}} from the "Stage map" table of docs/stage-map.md."""
    text = (REPO / "docs" / "stage-map.md").read_text()
    section = text[text.index("\n## Stage map\n") :]
    all_lines = section.splitlines()
    first = next(i for i, line in enumerate(all_lines) if line.startswith("|"))
    lines = []
    for line in all_lines[first:]:
        if not line.startswith("|"):
            break
        lines.append(line)
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        row = dict(zip(header, cells, strict=True))
        rows[row["stage"]] = {column: cell_items(cell) for column, cell in row.items()}
    return rows


def rule_blocks(path: Path) -> dict[str, str]:
    """{rule name: its text} of one rule file."""
    text = path.read_text()
    starts = [(m.group(1), m.start()) for m in re.finditer(r"^rule (\w+):", text, re.M)]
    ends = [start for _, start in starts[1:]] + [len(text)]
    return {name: text[start:end] for (name, start), end in zip(starts, ends, strict=True)}


def shell_subcommands(block: str) -> set[str]:
    """The `segmamba <subcommand>` calls of a rule's shell command."""
    shell = block[block.index("shell:") :] if "shell:" in block else ""
    return set(re.findall(r"segmamba ([a-z][a-z-]*)", shell))


def output_paths(block: str) -> list[str]:
    """The literal result paths of a rule (outputs, logs and benchmarks excluded); an f-string output as the default
    protocol's path (paths.smk's RUN_ID and FOLD_ID are {dataset} there, docs/protocols.md)."""
    output = block[block.index("output:") :]
    output = re.split(r"\n    (?:log|benchmark|params|conda|threads|resources|shell|wildcard_constraints):", output)[0]
    paths = re.findall(r'"(results/[^"]+)"', output)
    return [
        re.sub(r"\{(?:RUN_ID|FOLD_ID)\}", "{{dataset}}", path).replace("{{", "{").replace("}}", "}") for path in paths
    ]


STAGES = stage_map()
STEP_STAGES = {stage: row for stage, row in STAGES.items() if row["rule file"]}


def test_every_rule_file_is_a_stage_of_the_same_name_and_included():
    rule_files = {path.name for path in RULE_FILES.glob("*.smk")} - HELPER_RULE_FILES
    mapped = {Path(row["rule file"][0]).name for row in STEP_STAGES.values()}
    assert mapped == rule_files
    for stage, row in STEP_STAGES.items():
        assert Path(row["rule file"][0]).stem == stage
        assert row["package"] == [f"segmamba/{stage}/"]
    snakefile = (REPO / "Snakefile").read_text()
    included = set(re.findall(r'include: "workflow/rules/(\w+\.smk)"', snakefile))
    assert included == rule_files | HELPER_RULE_FILES


@pytest.mark.parametrize("stage", sorted(STEP_STAGES))
def test_rules_and_their_subcommands_are_the_stages(stage):
    row = STEP_STAGES[stage]
    blocks = rule_blocks(REPO / row["rule file"][0])
    assert sorted(blocks) == sorted(row["rules"])
    for rule, block in blocks.items():
        called = shell_subcommands(block)
        assert len(called) == 1 and called <= set(row["subcommands"]), (rule, called)
        if stage != "report":
            assert called == {rule.replace("_", "-")}, f"rule {rule} runs segmamba {called}"
        for path in output_paths(block):
            assert any(path.startswith(prefix) for prefix in row["outputs"]), (rule, path, row["outputs"])


def test_report_rules_are_the_artefacts():
    assert set(STAGES["report"]["rules"]) == {f"report_{name}" for name in ARTEFACTS}
    blocks = rule_blocks(RULE_FILES / "report.smk")
    for name, artefact in ARTEFACTS.items():
        block = blocks[f"report_{name}"]
        assert f"segmamba report {name} " in block
        assert f'caption="../report/{artefact.caption}"' in block
        assert (REPO / "workflow" / "report" / artefact.caption).exists()


def test_subcommands_are_registered_by_their_stage_and_reach_the_implementation_in_one_file():
    mapped = {sub for row in STAGES.values() for sub in row["subcommands"]}
    assert mapped == set(SUBCOMMANDS)
    registered = set(build_parser()._subparsers._group_actions[0].choices)
    assert registered == set(SUBCOMMANDS)
    for stage, row in STAGES.items():
        package = REPO / row["package"][0]
        assert (package / "cli.py").exists()
        cli_source = (package / "cli.py").read_text()
        for sub in row["subcommands"]:
            assert SUBCOMMANDS[sub] == f"segmamba.{stage}.cli"
        for module in row["implementation"]:
            assert (package / module).exists(), f"{package / module} missing"
            dotted = f"segmamba.{stage}.{Path(module).stem}"
            assert f"from {dotted} import" in cli_source, f"{stage}/cli.py does not call {dotted}"
            importlib.import_module(dotted)


def test_the_command_line_starts_without_the_heavy_libraries():
    code = (
        "import sys; from segmamba.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'pandas', 'matplotlib', 'monai') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"  # the report rules run in an environment without torch
