"""The dataset file results/{dataset}/dataset.json: written once by `segmamba check --entry`, read by every later
step through one accessor (segmamba.data.dataset_file)."""

from __future__ import annotations

import hashlib
import json

import pytest

from segmamba.cli import main
from segmamba.data.dataset_file import builtin_dataset_file, read_dataset_file, resolve_dataset_file
from segmamba.data.synth import write_synthetic_dataset
from segmamba.errors import InputError


def nnunet_folder(folder, labels, file_ending=".nii.gz"):
    """A raw nnU-Net folder with only its dataset.json (the accessor tests read no images)."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"channel_names": {"0": "T2", "1": "ADC"}, "labels": labels, "file_ending": file_ending}
    (folder / "dataset.json").write_text(json.dumps(meta))
    return folder


def test_an_nnunet_entry_is_written_with_its_regions_in_config_order_and_read_back(tmp_path):
    root = nnunet_folder(tmp_path / "raw", {"background": 0, "PZ": 1, "TZ": 2})
    entry = {
        "format": "nnunet",
        "root": str(root),
        "regions": {"whole": [2, 1], "pz": [1]},
        "target_spacing": [1, 1, 2],
    }
    resolve_dataset_file("prostate", entry, root, case_ids=["b", "a"]).write(tmp_path / "dataset.json")

    content = json.loads((tmp_path / "dataset.json").read_text())
    assert list(content["regions"]) == ["whole", "pz"]  # the order of the metric columns, not sorted
    assert content["regions"] == {"whole": [1, 2], "pz": [1]}
    assert content["metric_columns"] == ["dice_whole", "dice_pz", "dice_mean", "hd95_whole", "hd95_pz", "hd95_mean"]
    assert (content["layout"], content["synthetic"], content["paper_table"]) == ("nnunet", False, None)
    assert (content["target_spacing"], content["file_ending"]) == ([1.0, 1.0, 2.0], ".nii.gz")
    assert content["case_ids"] == ["b", "a"]
    assert content["fingerprint"]["case_list_hash"] == hashlib.sha256(b"a\nb").hexdigest()  # split.json's hash

    dataset = read_dataset_file(tmp_path / "dataset.json")
    assert (dataset.name, dataset.layout, dataset.root) == ("prostate", "nnunet", str(root))
    assert dataset.regions == {"whole": [1, 2], "pz": [1]} and dataset.target_spacing == (1.0, 1.0, 2.0)
    assert dataset.info.channel_names == ("T2", "ADC") and dataset.info.label_names == {
        0: "background",
        1: "PZ",
        2: "TZ",
    }
    assert dataset.definition.metric_columns() == tuple(content["metric_columns"])
    assert [m.label for m in dataset.definition.reported_metrics()][:2] == ["whole Dice (%)", "whole HD95 (mm)"]
    assert dataset.known == (".nii.gz", dataset.info)


def test_a_paper_dataset_without_root_is_its_registry_definition_on_the_synthetic_folder(tmp_path):
    resolve_dataset_file("brats2023", {"root": None}, "results/data/brats2023").write(tmp_path / "d.json")
    dataset = read_dataset_file(tmp_path / "d.json")
    assert dataset.synthetic and dataset.root == "results/data/brats2023"
    assert dataset.display_label == "BraTS2023" and dataset.definition.paper_table == "table2"
    assert dataset.target_spacing == (1.0, 1.0, 1.0)
    assert list(dataset.regions) == ["WT", "TC", "ET"]
    assert dataset.definition.metric_columns()[:3] == ("dice_wt", "dice_tc", "dice_et")
    assert dataset.known is None  # the BraTS reader knows its labels


@pytest.mark.parametrize("name", ["brats2023", "aiib2023", "crc500", "prostate"])
def test_the_file_gives_back_the_definition_the_config_entry_resolves_to(tmp_path, name):
    """What every step reads equals what the parse-time check resolved: the tables and metrics cannot differ."""
    from segmamba.data.dataset_config import resolve_dataset

    root = nnunet_folder(tmp_path / "raw", {"background": 0, "PZ": 1, "TZ": 2})
    entry = {"format": "nnunet", "root": str(root), "regions": {"tz": [2]}} if name == "prostate" else {"root": None}
    resolve_dataset_file(name, entry, root).write(tmp_path / "d.json")
    assert read_dataset_file(tmp_path / "d.json").definition == resolve_dataset(name, entry)


def test_a_changed_region_changes_the_definition_fingerprint_but_not_the_case_list_hash(tmp_path):
    root = nnunet_folder(tmp_path / "raw", {"background": 0, "PZ": 1, "TZ": 2})
    entry = {"format": "nnunet", "root": str(root)}
    plain = resolve_dataset_file("prostate", entry, root, ["a"]).fingerprint()
    merged = resolve_dataset_file("prostate", {**entry, "regions": {"gland": [1, 2]}}, root, ["a"]).fingerprint()
    assert plain["definition"] != merged["definition"]
    assert plain["case_list_hash"] == merged["case_list_hash"]


def test_a_hand_edited_or_foreign_file_is_an_error_naming_it(tmp_path):
    resolve_dataset_file("crc500", {}, "raw").write(tmp_path / "d.json")
    content = json.loads((tmp_path / "d.json").read_text())
    content["regions"] = {"tumour": [1, 2]}
    (tmp_path / "edited.json").write_text(json.dumps(content))
    with pytest.raises(InputError, match=r"edited\.json: its fingerprint does not match"):
        read_dataset_file(tmp_path / "edited.json")
    (tmp_path / "split.json").write_text(json.dumps({"train": [], "val": [], "test": []}))
    with pytest.raises(InputError, match=r"split\.json: not a dataset file \(missing name, layout"):
        read_dataset_file(tmp_path / "split.json")
    with pytest.raises(InputError, match="missing.json: cannot read"):
        read_dataset_file(tmp_path / "missing.json")


def test_the_builtin_shorthand_needs_a_root_only_for_nnunet(tmp_path):
    assert builtin_dataset_file("aiib2023", None).definition.evaluation == "airway"
    with pytest.raises(InputError, match="--dataset nnunet needs --root"):
        builtin_dataset_file("nnunet", None)
    with pytest.raises(InputError, match="unknown dataset 'kits'"):
        builtin_dataset_file("kits", tmp_path)


def test_check_writes_the_file_that_split_reads(tmp_path):
    cases = write_synthetic_dataset("crc", tmp_path / "raw", cases=4, size=16, seed=0)
    argv = ["check", "--name", "crc500", "--entry", '{"root": null}', "--root", str(tmp_path / "raw")]
    assert main([*argv, "--write-dataset-file", str(tmp_path / "dataset.json")]) == 0
    dataset = read_dataset_file(tmp_path / "dataset.json")
    assert dataset.case_ids == tuple(sorted(cases)) and dataset.synthetic
    assert main(["split", "--dataset-file", str(tmp_path / "dataset.json"), "--out", str(tmp_path / "s.json")]) == 0
    split = json.loads((tmp_path / "s.json").read_text())
    assert split["case_list_hash"] == dataset.fingerprint()["case_list_hash"]


def test_check_refuses_a_bad_entry_naming_the_config_key(tmp_path, capsys):
    root = nnunet_folder(tmp_path / "raw", {"background": 0, "PZ": 1})
    entry = json.dumps({"format": "nnunet", "root": str(root), "regions": {"gland": [1, 3]}})
    argv = ["check", "--name", "prostate", "--entry", entry, "--root", str(root)]
    assert main([*argv, "--write-dataset-file", str(tmp_path / "d.json")]) != 0
    error = capsys.readouterr().err
    assert "config datasets.prostate" in error and "region 'gland' names label(s) [3]" in error
    assert not (tmp_path / "d.json").exists()


def test_a_command_takes_the_file_or_the_shorthand_not_both(tmp_path, capsys):
    resolve_dataset_file("crc500", {}, str(tmp_path)).write(tmp_path / "d.json")
    argv = ["split", "--dataset-file", str(tmp_path / "d.json"), "--dataset", "crc500", "--out", "s.json"]
    assert main(argv) != 0
    assert "give --dataset-file or --dataset/--root, not both" in capsys.readouterr().err
    assert main(["split", "--out", "s.json"]) != 0
    assert "give --dataset-file (written by `segmamba check`)" in capsys.readouterr().err
