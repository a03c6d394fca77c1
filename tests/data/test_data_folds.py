"""Cross-validation folds: disjoint test sets covering every case, the validation choice, files and the CLI."""

import json
import random

import pytest

from segmamba.cli import main
from segmamba.data.folds import fold_test_sets, make_cv_folds, write_fold_split
from segmamba.data.split import case_list_hash, load_split, make_split
from segmamba.data.synth import write_synthetic_dataset
from segmamba.errors import InputError


def ids(n):
    return [f"case_{i:04d}" for i in range(n)]


@pytest.mark.parametrize(("n", "folds"), [(6, 3), (7, 2), (10, 3), (11, 11), (1251, 5)])
def test_fold_test_sets_are_disjoint_and_cover_every_case(n, folds):
    splits = make_cv_folds(ids(n), folds, seed=42)
    assert [s["fold"] for s in splits] == list(range(folds))
    tests = [case for s in splits for case in s["test"]]
    assert sorted(tests) == ids(n)  # every case is a test case of exactly one fold
    for split in splits:
        subsets = split["train"] + split["val"] + split["test"]
        assert sorted(subsets) == ids(n)  # each fold's train/val/test partition all cases
        assert len(split["val"]) == n // 10
        assert not set(split["val"]) & set(split["test"])


@pytest.mark.parametrize(
    ("n", "folds", "sizes"),
    [(10, 3, [4, 3, 3]), (6, 3, [2, 2, 2]), (7, 2, [4, 3]), (1251, 5, [251, 250, 250, 250, 250])],
)
def test_fold_sizes_differ_by_at_most_one_extra_case_first(n, folds, sizes):
    assert [len(test) for test in fold_test_sets(ids(n), folds, seed=0)] == sizes


def test_five_folds_of_1250_cases_keep_the_papers_70_10_20():
    for split in make_cv_folds(ids(1250), 5, seed=42):
        assert (len(split["train"]), len(split["val"]), len(split["test"])) == (875, 125, 250)


def test_folds_cut_the_holdout_shuffle_in_order():
    # The same seeded shuffle of the sorted ids as the holdout split, cut into consecutive folds.
    shuffled = ids(23)
    random.Random(7).shuffle(shuffled)
    tests = fold_test_sets(list(reversed(ids(23))), 4, seed=7)
    assert [case for test in tests for case in test] == shuffled
    holdout = make_split(ids(23), seed=7)
    assert shuffled == holdout["train"] + holdout["val"] + holdout["test"]


def test_validation_is_the_cases_after_the_fold_wrapping_around():
    n, folds = 20, 4  # folds of 5, validation floor(20 / 10) = 2
    splits = make_cv_folds(ids(n), folds, seed=3)
    shuffled = [case for s in splits for case in s["test"]]
    assert splits[0]["val"] == shuffled[5:7]
    assert splits[2]["val"] == shuffled[15:17]
    assert splits[3]["val"] == shuffled[0:2]  # the last fold's validation wraps to the start
    assert splits[3]["train"] == shuffled[2:15]


def test_folds_are_deterministic_and_depend_on_the_seed():
    assert make_cv_folds(ids(30), 5, 42) == make_cv_folds(list(reversed(ids(30))), 5, 42)
    assert make_cv_folds(ids(30), 5, 42)[0]["test"] != make_cv_folds(ids(30), 5, 1)[0]["test"]


@pytest.mark.parametrize(("n", "folds", "message"), [(5, 1, "between 2 and"), (3, 4, "between 2 and the number")])
def test_impossible_fold_counts_are_errors(n, folds, message):
    with pytest.raises(InputError, match=message):
        make_cv_folds(ids(n), folds)


def test_duplicate_case_ids_are_an_error():
    with pytest.raises(InputError, match="duplicate"):
        make_cv_folds(["a", "b", "a"], 2)


def test_fold_file_is_a_split_file_and_is_guarded(tmp_path):
    path = tmp_path / "fold1.json"
    write_fold_split(path, ids(12), folds=3, fold=1, seed=5)
    before = path.read_bytes()
    write_fold_split(path, list(reversed(ids(12))), folds=3, fold=1, seed=5)
    assert path.read_bytes() == before  # rewriting the same fold changes nothing
    split = load_split(path)  # readable wherever split.json is (train, predict, ground truth)
    assert (split["scheme"], split["folds"], split["fold"], split["seed"]) == ("cv", 3, 1, 5)
    assert split["case_list_hash"] == case_list_hash(ids(12))
    with pytest.raises(InputError, match="delete it to re-split"):
        write_fold_split(path, ids(12), folds=4, fold=1, seed=5)
    with pytest.raises(InputError, match="delete it to re-split"):
        write_fold_split(path, ids(12), folds=3, fold=1, seed=6)
    with pytest.raises(InputError, match="different case list"):
        write_fold_split(path, ids(13), folds=3, fold=1, seed=5)
    with pytest.raises(InputError, match="fold must be between 0 and 2"):
        write_fold_split(tmp_path / "x.json", ids(12), folds=3, fold=3)
    assert path.read_bytes() == before


def test_fold_split_cli_writes_each_fold(tmp_path, capsys):
    write_synthetic_dataset("crc", tmp_path / "raw", cases=5, size=16)
    args = ["fold-split", "--dataset", "crc500", "--root", str(tmp_path / "raw"), "--folds", "3"]
    tests = []
    for fold in range(3):
        out = tmp_path / f"fold{fold}.json"
        assert main([*args, "--fold", str(fold), "--out", str(out)]) == 0
        tests += json.loads(out.read_text())["test"]
    assert sorted(tests) == [f"CRC_{i:03d}" for i in range(5)]
    assert main([*args, "--fold", "0", "--out", str(tmp_path / "fold0.json"), "--seed", "1"]) == 2
    assert "made with" in capsys.readouterr().err
