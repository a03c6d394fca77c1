"""The split's guard does not depend on split.json surviving: the history beside it reports a re-split."""

from __future__ import annotations

import json
import logging

from segmamba.data.split import history_path, write_split


def test_a_resplit_after_the_split_file_was_deleted_is_reported_and_recorded(tmp_path, caplog):
    path = tmp_path / "split.json"
    ids = [f"c{i:02d}" for i in range(10)]
    write_split(path, ids, seed=42)
    path.unlink()  # what Snakemake does before it reruns the split rule
    with caplog.at_level(logging.WARNING, logger="segmamba.data"):
        write_split(path, ids, seed=42)  # the same split again: nothing to report, nothing new recorded
    assert caplog.text == ""
    path.unlink()
    with caplog.at_level(logging.WARNING, logger="segmamba.data"):
        write_split(path, ids + ["c10"], seed=7)
    assert "re-splitting" in caplog.text and "seed 42 and 10 cases, this one seed 7 and 11 cases" in caplog.text
    history = [json.loads(line) for line in history_path(path).read_text().splitlines()]
    assert history_path(path).name == "split.history.jsonl"
    assert [(entry["seed"], entry["num_cases"]) for entry in history] == [(42, 10), (7, 11)]
