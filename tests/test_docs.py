"""The documentation: a README of at most 10 KB with the two Quick start commands, links that resolve, every
docs page in the index, and the command-line and configuration references covering every subcommand and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from segmamba.cli import SUBCOMMANDS

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = sorted([REPO / "README.md", REPO / "CHANGELOG.md", *DOCS.rglob("*.md")])
#: Markdown links ``[text](target)``; images and autolinks are not used here.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def links(page: Path) -> list[str]:
    """The link targets of a Markdown page, code blocks excluded."""
    return LINK.findall(FENCE.sub("", page.read_text()))


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings."""
    text = FENCE.sub("", page.read_text())
    return {github_anchor(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def test_github_anchor_matches_hand_made_examples():
    assert github_anchor("Time limits, preemption and resuming a training") == (
        "time-limits-preemption-and-resuming-a-training"
    )
    assert github_anchor("Track trainings with MLflow") == "track-trainings-with-mlflow"
    assert github_anchor("What runs, and `segmamba` (CLI)") == "what-runs-and-segmamba-cli"


def test_readme_is_a_first_page_of_at_most_10_kb():
    assert (REPO / "README.md").stat().st_size <= 10_240


def test_quick_start_is_two_commands_install_and_run_and_install_and_test():
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Quick start") :]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"^```bash\n(.*?)^```", section, re.M | re.S)
    assert len(blocks) == 2
    commands = [block.strip() for block in blocks]
    assert all("\n" not in command for command in commands)
    assert commands[0].endswith("pip install -e . && snakemake --cores all")
    assert commands[1].endswith("pip install -e '.[test]' && pytest")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page):
    for target in links(page):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.relative_to(REPO)}: link to missing {target}"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{page.relative_to(REPO)}: no heading for #{anchor} in {path}"


def test_every_docs_page_is_in_the_index_and_linked_from_the_readme_or_the_index():
    index = {(DOCS / target.partition("#")[0]).resolve() for target in links(DOCS / "README.md")}
    pages = {page.resolve() for page in DOCS.rglob("*.md")} - {(DOCS / "README.md").resolve()}
    assert pages - index == set()
    assert "docs/README.md" in links(REPO / "README.md")


def test_cli_reference_lists_every_subcommand():
    text = (DOCS / "cli.md").read_text()
    listed = set(re.findall(r"^\| `segmamba ([a-z-]+)` \|", text, re.M))
    assert listed == set(SUBCOMMANDS)


def test_configuration_reference_names_every_top_level_key():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    keys = set(re.findall(r"^\| `([a-z_]+)[`.<]", (DOCS / "configuration.md").read_text(), re.M))
    assert set(schema["properties"]) <= keys
