"""Atomic writes: the target is either the old or the new content, and results stay readable."""

import errno
import json
import os
import re
import stat
from pathlib import Path

import pytest

from segmamba.errors import OutputWriteError
from segmamba.io_utils import TEMPORARY_NAME, atomic_path, remove_stale_temporaries, write_json_atomic


def test_write_json_atomic_writes_sorted_json(tmp_path):
    target = tmp_path / "sub" / "out.json"
    write_json_atomic(target, {"b": 2, "a": 1})
    assert json.loads(target.read_text()) == {"a": 1, "b": 2}
    assert target.read_text().index('"a"') < target.read_text().index('"b"')


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_temporary_file_keeps_full_suffix(tmp_path):
    with atomic_path(tmp_path / "case.nii.gz") as tmp:
        assert tmp.name.endswith(".nii.gz")
        tmp.write_bytes(b"x")


def test_written_files_follow_the_umask_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "a.json", {})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644


def test_a_full_disk_names_the_target_and_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "case_000" / "image.npy"
    target.parent.mkdir()
    target.write_text("old")

    def full_disk(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(OutputWriteError) as info:
        write_json_atomic(target, {"a": 1})
    message = str(info.value)
    assert message.startswith(f"could not write {target}: no space left on the device (ENOSPC: No space left on ")
    assert re.search(rf"; \d+\.\d MiB free in {re.escape(str(target.parent))}$", message)
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["image.npy"]


def test_the_cli_reports_a_failed_write_in_one_line(tmp_path, monkeypatch, capsys):
    from segmamba.cli import main

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", denied)
    assert main(["synth", "--kind", "crc", "--out", str(tmp_path / "raw"), "--settings", '{"cases": 1}']) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("segmamba synth: error: could not write ") and "EACCES: Permission denied" in error
    assert "\n" not in error


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    case = tmp_path / "case_000"
    case.mkdir()
    stale = [tmp_path / ".dataset.json.k2j3h4ab.tmp.json", case / ".image.npy.a_b1c2d3.tmp.npy"]
    kept = [tmp_path / "dataset.json", case / "image.npy", case / ".hidden.nii.gz", tmp_path / ".x.short.tmp.npy"]
    for path in stale + kept:
        path.write_text("x")
    assert remove_stale_temporaries(tmp_path, "split.json") == []
    assert remove_stale_temporaries(tmp_path) == sorted(stale)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in stale)


def test_a_temporary_of_a_real_write_matches_the_sweep_pattern(tmp_path):
    with atomic_path(tmp_path / "case.nii.gz") as tmp:
        assert TEMPORARY_NAME.match(tmp.name)["target"] == "case.nii.gz"
        tmp.write_bytes(b"x")
