"""Split: counts, determinism, and detection of a changed case list."""

import json

import pytest

from segmamba.cli import main
from segmamba.data.split import case_list_hash, load_split, make_split, verify_split, write_split
from segmamba.data.synth import write_synthetic_dataset
from segmamba.errors import InputError


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, (0, 0, 1)), (2, (1, 0, 1)), (9, (6, 0, 3)), (10, (7, 1, 2)), (1251, (875, 125, 251))],
)
def test_split_counts_lose_no_case(n, expected):
    ids = [f"case_{i:04d}" for i in range(n)]
    split = make_split(ids, seed=42)
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == expected
    together = split["train"] + split["val"] + split["test"]
    assert sorted(together) == ids and len(set(together)) == n


def test_split_ignores_input_order_and_depends_on_seed():
    ids = [f"c{i}" for i in range(50)]
    assert make_split(ids, 42) == make_split(list(reversed(ids)), 42)
    assert make_split(ids, 42)["train"] != make_split(ids, 7)["train"]
    assert make_split(ids, 42)["train"] != sorted(make_split(ids, 42)["train"])  # actually shuffled


def test_split_file_is_byte_identical_and_records_seed_and_hash(tmp_path):
    ids = [f"c{i}" for i in range(12)]
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    write_split(first, ids, seed=3)
    write_split(second, list(reversed(ids)), seed=3)
    assert first.read_bytes() == second.read_bytes()
    write_split(first, ids, seed=3)  # rewriting the same split is allowed and changes nothing
    assert first.read_bytes() == second.read_bytes()
    content = json.loads(first.read_text())
    assert content["seed"] == 3
    assert content["case_list_hash"] == case_list_hash(ids)
    assert {"train", "val", "test"} <= set(content)


def test_changed_case_list_is_an_error_not_a_resplit(tmp_path):
    path = tmp_path / "split.json"
    ids = [f"c{i}" for i in range(10)]
    write_split(path, ids)
    before = path.read_bytes()
    with pytest.raises(InputError, match="different case list.*new: c99"):
        write_split(path, ids + ["c99"])
    with pytest.raises(InputError, match="seed 42, not 5"):
        write_split(path, ids, seed=5)
    assert path.read_bytes() == before
    with pytest.raises(InputError, match="gone: c3"):
        verify_split(load_split(path), [i for i in ids if i != "c3"])
    verify_split(load_split(path), ids)


def test_hand_edited_split_is_detected(tmp_path):
    path = tmp_path / "split.json"
    write_split(path, [f"c{i}" for i in range(10)])
    content = json.loads(path.read_text())
    content["test"].append("intruder")
    path.write_text(json.dumps(content))
    with pytest.raises(InputError, match="does not match"):
        load_split(path)


def test_split_cli_on_synthetic_dataset(tmp_path, capsys):
    write_synthetic_dataset("crc", tmp_path / "raw", cases=3, size=16)
    out = tmp_path / "split.json"
    assert main(["split", "--dataset", "crc500", "--root", str(tmp_path / "raw"), "--out", str(out)]) == 0
    split = json.loads(out.read_text())
    assert sorted(split["train"] + split["val"] + split["test"]) == ["CRC_000", "CRC_001", "CRC_002"]
    write_synthetic_dataset("crc", tmp_path / "raw", cases=4, size=16)
    assert main(["split", "--dataset", "crc500", "--root", str(tmp_path / "raw"), "--out", str(out)]) == 2
    assert "CRC_003" in capsys.readouterr().err
